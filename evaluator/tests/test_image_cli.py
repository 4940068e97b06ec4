"""`python3 -m crucible_eval --task-type ImageTask` end to end: the contract's stdout, stderr and exit code."""

import json
import os
import subprocess
import sys

import pytest
from image_fixtures import LONG_SIDE, single_thread_torch, write_test_zip

from crucible_eval import tiny_diffusion
from crucible_eval.image import SIDE_ENV, STEPS_ENV

EVALUATOR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    single_thread_torch()
    root = tmp_path_factory.mktemp("image-cli")
    tiny_diffusion.make_sdxl(root / "base")
    tiny_diffusion.write_lora(root / "base", "sdxl", root / "out" / "checkpoints" / "last.safetensors", scale=0.5)
    (root / "empty").mkdir()
    return root, write_test_zip(root / "test_data.zip")


def run_cli(root, dataset, output, side_env=True):
    command = [
        sys.executable, "-m", "crucible_eval", "--task-id", "t1", "--task-type", "ImageTask",
        "--model", "tiny/sdxl", "--base-model-path", str(root / "base"),
        "--trained-model-path", str(output), "--dataset", dataset, "--model-type", "sdxl",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # Two steps: the contract, not the sampler, is under test here.
    env.update({SIDE_ENV: str(LONG_SIDE), STEPS_ENV: "2"})
    if not side_env:
        del env[SIDE_ENV]
    return subprocess.run(command, cwd=EVALUATOR_DIR, env=env, capture_output=True, text=True, timeout=600)


def test_success_prints_the_image_result_as_the_last_stdout_line(world):
    root, dataset = world
    done = run_cli(root, dataset, root / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"test_loss", "text_guided_loss", "no_text_loss", "is_finetune"}
    assert result["is_finetune"] is True
    assert result["test_loss"] == pytest.approx(0.25 * result["text_guided_loss"] + 0.75 * result["no_text_loss"])


def test_the_side_the_content_declares_beside_the_test_zip_is_used(world, tmp_path):
    root, dataset = world
    expected = json.loads(run_cli(root, dataset, root / "out").stdout.strip().splitlines()[-1])
    declared = tmp_path / "test_data.zip"
    declared.write_bytes(open(dataset, "rb").read())
    (tmp_path / "t1_image_eval.json").write_text(json.dumps({"long_side": LONG_SIDE}))
    done = run_cli(root, str(declared), root / "out", side_env=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_missing_lora_exits_2_with_an_error_line(world):
    root, dataset = world
    done = run_cli(root, dataset, root / "empty")
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "last.safetensors" in last
