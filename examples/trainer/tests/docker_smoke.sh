#!/usr/bin/env bash
# Builds the text trainer image and runs it once end to end, the way the validator does: the
# standard arguments, a read-only /cache, a private output folder, no network. Then checks that the
# output loads as the evaluator loads it and scores better than the base model.
#
#   bash tests/docker_smoke.sh [InstructTextTask|ChatTask|DpoTask|GrpoTask]
#
# Needs a Docker engine and the images crucible-ml-base:latest (to build FROM) and crucible-ml-test:1
# (torch and friends, to make the tiny model and check the output; the host needs no Python packages).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
task_type=${1:-InstructTextTask}
image=crucible-example-text-trainer:smoke
task=smoke-task
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== build"
docker build -q -f "$repo/dockerfiles/standalone-text-trainer.dockerfile" -t "$image" "$repo"

echo "== tiny model and dataset"
docker run --rm --network none -v "$repo:/src:ro" -v "$work:/w" -w /src -e PYTHONDONTWRITEBYTECODE=1 \
  crucible-ml-test:1 python3 tests/tiny.py /w/cache "$task" "$task_type" > "$work/dataset_type.json"
mkdir -p "$work/out"

echo "== train ($task_type)"
start=$(date +%s)
docker run --rm --network none \
  -v "$work/cache:/cache:ro" -v "$work/out:/app/checkpoints/$task/smoke-repo" \
  -e WANDB_MODE=offline \
  "$image" \
  --task-id "$task" --model tiny/llama --dataset "/cache/datasets/${task}_train_data.json" \
  --dataset-type "$(cat "$work/dataset_type.json")" --task-type "$task_type" --file-format s3 \
  --expected-repo-name smoke-repo --hours-to-complete 1
echo "trained in $(( $(date +%s) - start )) s; output:"
ls -l "$work/out"

echo "== check the output"
docker run --rm --network none -v "$repo:/src:ro" -v "$work:/w:ro" -w /src -e PYTHONDONTWRITEBYTECODE=1 \
  -e HF_HUB_OFFLINE=1 -e TASK_TYPE="$task_type" -i crucible-ml-test:1 python3 - <<'PY'
import os, sys
from pathlib import Path
sys.path.insert(0, "tests")
import measure, tiny

base_dir, out = Path("/w/cache/models/tiny--llama"), Path("/w/out")
tok, base, trained = measure.tokenizer(base_dir), measure.load_base(base_dir), measure.load_output(out, base_dir)
kind = os.environ["TASK_TYPE"]
if kind == "InstructTextTask":
    test = tiny.instruct_rows(60, seed=2)
    before, after = measure.instruct_loss(base, tok, test), measure.instruct_loss(trained, tok, test)
    ok = after < before
elif kind == "ChatTask":
    test = tiny.chat_rows(60, seed=2)
    before, after = measure.chat_loss(base, tok, test), measure.chat_loss(trained, tok, test)
    ok = after < before
elif kind == "DpoTask":
    test = tiny.dpo_rows(40, seed=2)
    before, after = 0.0, measure.dpo_margin(trained, base, tok, test)
    ok = after > before
else:
    prompts = [r["prompt"] for r in tiny.grpo_rows(12, seed=99)]
    reward = lambda cs: [c.split().count("yes") / max(1, len(c.split())) for c in cs]
    before, after = measure.mean_reward(base, tok, prompts, reward), measure.mean_reward(trained, tok, prompts, reward)
    ok = after > before
print(f"{kind}: base {before:.4f} -> trained {after:.4f}: {'better' if ok else 'NOT better'}")
sys.exit(0 if ok else 1)
PY
echo "== ok"
