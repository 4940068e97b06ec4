"""Fixtures: a tiny Llama in a /cache-like folder, and a way to run the trainer against temp paths.

Run from the repository root inside the development image, e.g.
  docker run --rm --network none -v $PWD:/src -w /src crucible-ml-test:1 python3 -m pytest -q tests
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tomllib
from pathlib import Path

# No hub, ever; and the repository root on the path so `import text_trainer` works.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

import tiny  # noqa: E402

_task_ids = itertools.count()


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    tiny.make_model(root / "models" / tiny.MODEL_ID.replace("/", "--"))
    (root / "datasets").mkdir()
    return root


@pytest.fixture(scope="session")
def base_dir(cache) -> Path:
    return cache / "models" / tiny.MODEL_ID.replace("/", "--")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, overrides: dict[str, dict]) -> Path:
    """The repository's trainer.toml with `overrides` ({table: {key: value}}) merged in."""
    tables = tomllib.loads((ROOT / "trainer.toml").read_text())
    for table, values in overrides.items():
        tables.setdefault(table, {}).update(values)
    lines = []

    def write_table(name, values):
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(v)}" for key, v in values.items() if not isinstance(v, dict))
        for key, v in values.items():
            if isinstance(v, dict):
                write_table(f"{name}.{key}", v)

    for table, values in tables.items():
        write_table(table, values)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def run_trainer(cache, tmp_path, monkeypatch):
    """Runs the trainer's `run()` with the standard arguments; returns (summary, output folder)."""
    from text_trainer import cli

    monkeypatch.setenv("CRUCIBLE_CACHE_DIR", str(cache))
    monkeypatch.setenv("CRUCIBLE_OUTPUT_ROOT", str(tmp_path / "checkpoints"))

    def run(task_type: str, rows: list[dict], dataset_type: dict, overrides: dict | None = None, hours: float = 1):
        task_id = f"task-{next(_task_ids)}"
        (cache / "datasets" / f"{task_id}_train_data.json").write_text(json.dumps(rows))
        config = write_config(tmp_path / f"{task_id}.toml", overrides or {})
        argv = [
            "--task-id", task_id, "--model", tiny.MODEL_ID,
            "--dataset", f"/cache/datasets/{task_id}_train_data.json",
            "--dataset-type", json.dumps(dataset_type), "--task-type", task_type,
            "--file-format", "s3", "--expected-repo-name", f"repo-{task_id}",
            "--hours-to-complete", str(hours),
        ]
        summary = cli.run(argv, config=config)
        return summary, tmp_path / "checkpoints" / task_id / f"repo-{task_id}"

    return run
