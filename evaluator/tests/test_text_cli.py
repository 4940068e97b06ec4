"""The container contract end to end: `python3 -m crucible_eval ...` as the validator runs it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import INSTRUCT_ROWS, INSTRUCT_TYPE, copy_model, make_lora

EVALUATOR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, env_extra=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "crucible_eval", *args], cwd=EVALUATOR_DIR, env=env,
                          capture_output=True, text=True, timeout=300)


def cli_args(base, trained, dataset, task_type="InstructTextTask", dataset_type=INSTRUCT_TYPE):
    return ["--task-id", "t1", "--task-type", task_type, "--model", "tiny/llama", "--base-model-path", base,
            "--trained-model-path", trained, "--dataset", dataset, "--dataset-type", json.dumps(dataset_type)]


def test_success_ends_stdout_with_one_json_line(base_dir, tmp_path, write_rows):
    lora = str(tmp_path / "lora")
    make_lora(base_dir, lora)
    done = run(*cli_args(base_dir, lora, write_rows(INSTRUCT_ROWS)))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"test_loss", "is_finetune", "model_params_count"}
    assert result["is_finetune"] is True and result["test_loss"] > 0 and result["model_params_count"] > 0


def test_the_result_file_carries_the_scores_and_the_runs_nonce(base_dir, tmp_path, write_rows):
    lora = str(tmp_path / "lora")
    make_lora(base_dir, lora)
    result_dir = tmp_path / "result"
    result_dir.mkdir()
    env = {"CRUCIBLE_RESULT": str(result_dir / "score.json"), "CRUCIBLE_NONCE": "5eed"}
    done = run(*cli_args(base_dir, lora, write_rows(INSTRUCT_ROWS)), env_extra=env)
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads((result_dir / "score.json").read_text())
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert written == dict(printed, nonce="5eed")
    assert os.listdir(result_dir) == ["score.json"], "no partial file is left"


def test_a_failed_evaluation_writes_no_result_file(base_dir, tmp_path, write_rows):
    out = tmp_path / "out"
    out.mkdir()
    result_dir = tmp_path / "result"
    result_dir.mkdir()
    env = {"CRUCIBLE_RESULT": str(result_dir / "score.json"), "CRUCIBLE_NONCE": "5eed"}
    done = run(*cli_args(base_dir, str(out), write_rows(INSTRUCT_ROWS)), env_extra=env)
    assert done.returncode == 2
    assert os.listdir(result_dir) == []


@pytest.mark.parametrize("layout", ["empty", "pickle"])
def test_a_bad_output_exits_2_with_an_error_line(base_dir, tmp_path, write_rows, layout):
    out = tmp_path / "out"
    out.mkdir()
    if layout == "pickle":
        copy_model(base_dir, str(out))
        os.rename(out / "model.safetensors", out / "pytorch_model.bin")
    done = run(*cli_args(base_dir, str(out), write_rows(INSTRUCT_ROWS)))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and ("empty" in last if layout == "empty" else "pickle" in last)
    assert done.stdout.strip() == ""


def test_bad_arguments_are_the_evaluators_failure_not_the_miners(base_dir, tmp_path, write_rows):
    args = cli_args(base_dir, str(tmp_path), write_rows(INSTRUCT_ROWS))
    done = run(*args[:-2])  # no --dataset-type
    assert done.returncode == 1 and "dataset-type" in done.stderr
    done = run(*cli_args(base_dir, str(tmp_path), write_rows(INSTRUCT_ROWS), task_type="Nope"))
    assert done.returncode == 1
