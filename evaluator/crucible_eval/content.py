"""The content directory: the base models, datasets and reward functions tasks are drawn from.

A content directory is described by `content.json` (models, datasets, reward_functions; paths are
relative to the directory). This module reads and checks it; `prepare` uses it to place a task's
inputs and `tiny` to write a consistent one. It only reads: it never changes the directory.

Every problem with the content itself is a `ContentError`, whose message names the entry and the
field at fault, so whoever curates the content can fix it.
"""

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

TEXT_TASK_TYPES = ("InstructTextTask", "ChatTask", "DpoTask", "GrpoTask")
IMAGE_TASK_TYPE = "ImageTask"
TASK_TYPES = TEXT_TASK_TYPES + (IMAGE_TASK_TYPE,)
MODEL_TYPES = ("sdxl", "flux")

# Columns a dataset must map for each task type it serves. GRPO takes its prompt from
# `field_prompt`, else `field_instruction`, so it is checked apart. Chat has defaults for all.
REQUIRED_COLUMNS = {
    "InstructTextTask": ("field_instruction", "field_output"),
    "DpoTask": ("field_prompt", "field_chosen", "field_rejected"),
}

# The chat fields' defaults (evaluation.md §1.3).
CHAT_DEFAULTS = {
    "chat_template": "chatml",
    "chat_column": "conversations",
    "chat_role_field": "from",
    "chat_content_field": "value",
    "chat_user_reference": "user",
    "chat_assistant_reference": "assistant",
}


def image_settings_name(task_id):
    """The held-out file with the scoring settings the content declares for an image task's model:
    {"long_side": N}, from the model's `resolution`. Absent: the reference's settings."""
    return f"{task_id}_image_eval.json"


class ContentError(Exception):
    """The content directory cannot serve the request; the message names what to fix."""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    path: str
    params: int
    model_type: str | None = None
    # Image models: the long side the evaluator scores at (the reference's 1024 unless declared).
    resolution: int | None = None


@dataclass(frozen=True)
class DatasetEntry:
    id: str
    path: str
    rows: int
    task_types: tuple
    columns: dict = field(default_factory=dict)

    def chat_fields(self):
        """The chat fields with their defaults filled in."""
        return {key: self.columns.get(key) or default for key, default in CHAT_DEFAULTS.items()}


@dataclass(frozen=True)
class RewardFunction:
    reward_id: str
    reward_func: str


@dataclass(frozen=True)
class Content:
    root: Path
    models: tuple
    datasets: tuple
    reward_functions: tuple

    def model(self, model_id):
        for entry in self.models:
            if entry.id == model_id:
                return entry
        raise ContentError(f"content.json has no model {model_id!r}")

    def dataset(self, dataset_id):
        for entry in self.datasets:
            if entry.id == dataset_id:
                return entry
        raise ContentError(f"content.json has no dataset {dataset_id!r}")

    def path_of(self, entry):
        """The absolute path of a model or dataset entry."""
        return self.root / entry.path


def cache_model_dir_name(model_id):
    """The folder name a trainer finds a model under: `/` becomes `--` (miner-contract.md §2)."""
    return model_id.replace("/", "--")


def load_content(root):
    """Read and check `<root>/content.json`; raise `ContentError` naming the first problem."""
    root = Path(root)
    manifest = root / "content.json"
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(f"no content.json in {root}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContentError(f"content.json cannot be read: {err}") from None
    if not isinstance(document, dict):
        raise ContentError("content.json must be a JSON object")
    models = tuple(_model(item, i) for i, item in enumerate(_list(document, "models")))
    datasets = tuple(_dataset(item, i) for i, item in enumerate(_list(document, "datasets")))
    rewards = tuple(_reward(item, i) for i, item in enumerate(_list(document, "reward_functions")))
    for kind, entries, key in (("model", models, "id"), ("dataset", datasets, "id"),
                               ("reward function", rewards, "reward_id")):
        seen = set()
        for entry in entries:
            value = getattr(entry, key)
            if value in seen:
                raise ContentError(f"content.json lists {kind} {value!r} twice")
            seen.add(value)
    return Content(root, models, datasets, rewards)


def check_files(content):
    """Problems between content.json and the files it names (missing paths, wrong parameter
    counts); empty when consistent. Reads only safetensors headers, so it needs no torch."""
    problems = []
    for model in content.models:
        path = content.path_of(model)
        if not path.is_dir():
            problems.append(f"model {model.id}: {model.path} is not a folder")
            continue
        counted = safetensors_param_count(path)
        if counted != model.params:
            problems.append(f"model {model.id}: params is {model.params}, safetensors hold {counted}")
    for dataset in content.datasets:
        path = content.path_of(dataset)
        is_image = IMAGE_TASK_TYPE in dataset.task_types
        if is_image and not path.is_dir():
            problems.append(f"dataset {dataset.id}: {dataset.path} is not a folder")
        elif not is_image and not path.is_file():
            problems.append(f"dataset {dataset.id}: {dataset.path} is not a file")
    return problems


def safetensors_param_count(folder):
    """The number of tensor elements in every `*.safetensors` under `folder`, read from the
    headers (8-byte little-endian length, then a JSON map of name → dtype, shape, offsets)."""
    total = 0
    for path in sorted(Path(folder).rglob("*.safetensors")):
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                total += count
    return total


def _list(document, key):
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ContentError(f"content.json: {key} must be a list")
    return value


def _text(item, key, where):
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ContentError(f"content.json: {where} needs a non-empty string {key!r}")
    return value


def _relative_path(item, where):
    path = _text(item, "path", where)
    # A path must stay inside the content directory, which is all a prepare container mounts.
    if os.path.isabs(path) or ".." in Path(path).parts:
        raise ContentError(f"content.json: {where} path {path!r} must be relative and inside the directory")
    return path


def _count(item, key, where):
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ContentError(f"content.json: {where} needs a positive integer {key!r}")
    return value


def _model(item, index):
    if not isinstance(item, dict):
        raise ContentError(f"content.json: models[{index}] must be an object")
    model_id = _text(item, "id", f"models[{index}]")
    where = f"model {model_id!r}"
    model_type = item.get("model_type")
    if model_type is not None and model_type not in MODEL_TYPES:
        raise ContentError(f"content.json: {where} has model_type {model_type!r}, expected sdxl or flux")
    if ".." in model_id.split("/") or model_id.startswith("/"):
        raise ContentError(f"content.json: {where} is not a usable model id")
    resolution = None
    if "resolution" in item:
        if model_type is None:
            raise ContentError(f"content.json: {where} has a resolution, which only image models take")
        resolution = _count(item, "resolution", where)
    return ModelEntry(
        model_id, _relative_path(item, where), _count(item, "params", where), model_type, resolution
    )


def _dataset(item, index):
    if not isinstance(item, dict):
        raise ContentError(f"content.json: datasets[{index}] must be an object")
    dataset_id = _text(item, "id", f"datasets[{index}]")
    where = f"dataset {dataset_id!r}"
    task_types = item.get("task_types")
    if not isinstance(task_types, list) or not task_types:
        raise ContentError(f"content.json: {where} needs a non-empty list task_types")
    for task_type in task_types:
        if task_type not in TASK_TYPES:
            raise ContentError(f"content.json: {where} has unknown task type {task_type!r}")
    if IMAGE_TASK_TYPE in task_types and len(task_types) > 1:
        raise ContentError(f"content.json: {where} mixes ImageTask with text task types")
    columns = item.get("columns") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(v, str) or v is None for v in columns.values()
    ):
        raise ContentError(f"content.json: {where} columns must map names to strings")
    for task_type in task_types:
        for key in REQUIRED_COLUMNS.get(task_type, ()):
            if not columns.get(key):
                raise ContentError(f"content.json: {where} serves {task_type} but maps no {key}")
    if "GrpoTask" in task_types and not (columns.get("field_prompt") or columns.get("field_instruction")):
        raise ContentError(f"content.json: {where} serves GrpoTask but maps no field_prompt or field_instruction")
    path = _relative_path(item, where)
    return DatasetEntry(dataset_id, path, _count(item, "rows", where), tuple(task_types), dict(columns))


def _reward(item, index):
    if not isinstance(item, dict):
        raise ContentError(f"content.json: reward_functions[{index}] must be an object")
    reward_id = _text(item, "reward_id", f"reward_functions[{index}]")
    return RewardFunction(reward_id, _text(item, "reward_func", f"reward function {reward_id!r}"))
