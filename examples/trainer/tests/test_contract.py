"""The contract around training: arguments and paths, settings, the deadline, rewards, `unchanged`."""

import hashlib
import json

import pytest

import tiny
from conftest import write_config
from text_trainer import cli, rewards, settings
from common.clock import Deadline


def test_cache_and_output_paths_follow_the_contract(monkeypatch):
    monkeypatch.delenv("CRUCIBLE_CACHE_DIR", raising=False)
    monkeypatch.delenv("CRUCIBLE_OUTPUT_ROOT", raising=False)
    args = cli.parse_args([
        "--task-id", "t1", "--model", "org/Model-1B", "--dataset", "/cache/datasets/t1_train_data.json",
        "--dataset-type", "{}", "--task-type", "DpoTask", "--expected-repo-name", "repo", "--hours-to-complete", "2",
    ])
    base, dataset, out = cli.paths(args)
    assert str(base) == "/cache/models/org--Model-1B"
    assert str(dataset) == "/cache/datasets/t1_train_data.json"
    assert str(out) == "/app/checkpoints/t1/repo"
    monkeypatch.setenv("CRUCIBLE_CACHE_DIR", "/tmp/c")
    monkeypatch.setenv("CRUCIBLE_OUTPUT_ROOT", "/tmp/o")
    base, dataset, out = cli.paths(args)
    assert (str(base), str(dataset), str(out)) == ("/tmp/c/models/org--Model-1B", "/tmp/c/datasets/t1_train_data.json", "/tmp/o/t1/repo")


def test_unknown_arguments_are_ignored():
    args = cli.parse_args(["--task-id", "t", "--model", "m", "--dataset-type", "{}", "--task-type", "ChatTask",
                           "--expected-repo-name", "r", "--new-flag", "x"])
    assert args.task_type == "ChatTask"


def test_task_tables_override_train_and_typos_are_refused(tmp_path):
    path = write_config(tmp_path / "a.toml", {"DpoTask": {"learning_rate": 0.5}})
    assert settings.load("DpoTask", path).learning_rate == 0.5
    assert settings.load("InstructTextTask", path).learning_rate == settings.load("InstructTextTask").learning_rate
    write_config(tmp_path / "b.toml", {"train": {"learnig_rate": 1.0}})
    with pytest.raises(settings.SettingsError, match="unknown key `learnig_rate`"):
        settings.load("DpoTask", tmp_path / "b.toml")
    write_config(tmp_path / "c.toml", {"train": {"mode": "qlora"}})
    with pytest.raises(settings.SettingsError, match="`mode` must be one of"):
        settings.load("DpoTask", tmp_path / "c.toml")
    write_config(tmp_path / "d.toml", {"train": {"epochs": "2"}})
    with pytest.raises(settings.SettingsError, match="`epochs` must be like 1"):
        settings.load("DpoTask", tmp_path / "d.toml")


def test_the_deadline_leaves_a_margin_to_save():
    s = settings.load("InstructTextTask")
    assert Deadline(2, s, now=0).budget == pytest.approx(2 * 3600 - max(s.time_margin_minutes * 60, 0.1 * 7200))
    assert Deadline(0, s, now=0).budget == s.fallback_minutes * 60
    deadline = Deadline(1, s)
    assert not deadline.passed()
    deadline.expire()
    assert deadline.passed()


def test_reward_functions_are_compiled_weighted_and_called_with_what_they_accept():
    plain = "def count(completions):\n    return [float(len(c)) for c in completions]\n"
    keyword = "import math\ndef with_prompts(completions, prompts):\n    return [float(p == 'a') for p in prompts]\n"
    functions = rewards.load(tiny.grpo_type([plain, keyword], weights=[3.0, 1.0]))
    assert [f.weight for f in functions] == [0.75, 0.25]
    combined, means = rewards.weighted(functions, ["a", "b"], ["xy", "xyzw"])
    assert means == [3.0, 0.5]
    assert combined == [0.75 * 2 + 0.25, 0.75 * 4]


def test_a_broken_reward_function_is_named():
    with pytest.raises(rewards.RewardError, match="r0 does not run"):
        rewards.load(tiny.grpo_type(["def f(completions):\n    return [\n"]))
    with pytest.raises(rewards.RewardError, match="no reward_functions"):
        rewards.load({"field_prompt": "prompt"})
    bad = rewards.load(tiny.grpo_type(["def f(completions, **kw):\n    return [1.0]\n"]))
    with pytest.raises(rewards.RewardError, match="one number per completion"):
        rewards.weighted(bad, ["a", "b"], ["x", "y"])


def test_unchanged_mode_writes_the_base_model_byte_for_byte(run_trainer, base_dir):
    summary, out = run_trainer("InstructTextTask", tiny.instruct_rows(10, seed=1), tiny.INSTRUCT_TYPE,
                               {"train": {"mode": "unchanged"}})

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert summary["mode"] == "unchanged"
    assert digest(out / "model.safetensors") == digest(base_dir / "model.safetensors")
    assert json.loads((out / "config.json").read_text()) == json.loads((base_dir / "config.json").read_text())
    assert not (out / "adapter_config.json").exists()


def test_a_missing_base_model_is_an_error_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRUCIBLE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CRUCIBLE_OUTPUT_ROOT", str(tmp_path / "out"))
    code = cli.main(["--task-id", "t", "--model", "nobody/none", "--dataset-type", json.dumps(tiny.INSTRUCT_TYPE),
                     "--task-type", "InstructTextTask", "--expected-repo-name", "r", "--hours-to-complete", "1"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: the base model nobody/none is not at ")


def test_a_spent_time_budget_stops_training_and_still_saves(run_trainer, base_dir):
    # --hours-to-complete 0 falls back to `fallback_minutes`; a budget of microseconds ends at once.
    summary, out = run_trainer("InstructTextTask", tiny.instruct_rows(50, seed=1), tiny.INSTRUCT_TYPE,
                               {"train": {"fallback_minutes": 1e-6}}, hours=0)

    assert summary["steps"] == 0
    assert (out / "adapter_model.safetensors").is_file()
