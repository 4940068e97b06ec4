#!/usr/bin/env bash
# Builds the image trainer image and runs it once end to end, the way the validator does: the
# standard image arguments, a read-only /cache, a private output folder, no network. Then scores the
# output with the evaluator against the unchanged base on held-out pictures.
#
#   bash tests/image_docker_smoke.sh [sdxl|flux]
#
# Needs a Docker engine, the images crucible-ml-base:latest (to build FROM) and crucible-ml-test:1
# (to make the tiny pipeline and score), and the evaluator beside this repository (../../evaluator,
# or set CRUCIBLE_EVALUATOR). The tiny run's hyperparameters come from a mounted TRAINER_CONFIG,
# since the repository's trainer.toml is sized for real models (1024 px).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
evaluator=${CRUCIBLE_EVALUATOR:-$(cd "$repo/../../evaluator" && pwd)}
model_type=${1:-sdxl}
image=crucible-example-image-trainer:smoke
task=smoke-task
work=$(mktemp -d)
trap 'docker run --rm -v "$work:/w" crucible-ml-test:1 rm -rf /w/cache /w/out; rm -rf "$work"' EXIT

echo "== build"
docker build -q -f "$repo/dockerfiles/standalone-image-trainer.dockerfile" -t "$image" "$repo"

echo "== tiny $model_type pipeline and pictures"
docker run --rm --network none -v "$repo:/src:ro" -v "$evaluator:/evaluator:ro" -v "$work:/w" -w /src \
  -e CRUCIBLE_EVALUATOR=/evaluator -e PYTHONDONTWRITEBYTECODE=1 -e MODEL_TYPE="$model_type" -i \
  crucible-ml-test:1 python3 - <<'PY'
import os, sys
from pathlib import Path
sys.path.insert(0, "tests")
import image_contract, image_world, test_image_flux, test_image_sdxl

model_type, work = os.environ["MODEL_TYPE"], Path("/w")
image_world.make_base(model_type, work / "cache/models/tiny--image-base", 32)
(work / "cache/datasets").mkdir(parents=True)
image_world.write_zip(work / "cache/datasets/smoke-task_tourn.zip", 16, seed=1, stem="train_data")
image_world.write_zip(work / "test_data.zip", 3, seed=2, stem="test_data")
case = test_image_sdxl.TestSdxlTrainer if model_type == "sdxl" else test_image_flux.TestFluxTrainer
(work / "trainer.toml").write_text(image_contract.toml_table({**case.BASE_SETTINGS, **case.fine_tune}))
PY
mkdir -p "$work/out"
chmod -R a+rwX "$work"

echo "== train ($model_type)"
start=$(date +%s)
docker run --rm --network none \
  -v "$work/cache:/cache:ro" -v "$work/out:/app/checkpoints/$task/smoke-repo" \
  -v "$work/trainer.toml:/config/trainer.toml:ro" -e TRAINER_CONFIG=/config/trainer.toml \
  -e OMP_NUM_THREADS=1 -e WANDB_MODE=offline \
  "$image" \
  --task-id "$task" --model tiny/image-base --dataset-zip "/cache/datasets/${task}_tourn.zip" \
  --model-type "$model_type" --expected-repo-name smoke-repo --hours-to-complete 1
echo "trained in $(( $(date +%s) - start )) s; output:"
find "$work/out" -type f -exec ls -l {} +

echo "== score the output and an unchanged base"
docker run --rm --network none -v "$evaluator:/evaluator:ro" -v "$work:/w:ro" -w /evaluator \
  -e PYTHONDONTWRITEBYTECODE=1 -e OMP_NUM_THREADS=1 -e MODEL_TYPE="$model_type" \
  -e CRUCIBLE_EVAL_IMAGE_SIDE=32 -i crucible-ml-test:1 python3 - <<'PY'
import argparse, os, sys
import torch
from crucible_eval.image import evaluate
from crucible_eval.image_pipelines import load_generator
from crucible_eval.image_data import load_test_zip
from crucible_eval.image_scoring import score_images

torch.set_num_threads(1)
model_type = os.environ["MODEL_TYPE"]
steps = {"sdxl": 9, "flux": 3}[model_type]
seeds = (2746317213, 1181241943)
base = "/w/cache/models/tiny--image-base"
args = argparse.Namespace(model_type=model_type, base_model_path=base, trained_model_path="/w/out", dataset="/w/test_data.zip")
trained = evaluate(args, steps=steps, seeds=seeds)["test_loss"]
plain = score_images(load_test_zip("/w/test_data.zip", 32), load_generator(model_type, base, None, None, steps=steps), seeds)["test_loss"]
ok = trained < plain
print(f"{model_type}: base test_loss {plain:.4f} -> trained {trained:.4f}: {'better' if ok else 'NOT better'}")
sys.exit(0 if ok else 1)
PY
echo "== ok"
