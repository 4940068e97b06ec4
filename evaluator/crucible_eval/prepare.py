"""The download step: place a task's base model and dataset where its trainer and evaluator read them.

`python3 -m crucible_eval.prepare --content DIR --task-id ID --task-type T --model M --dataset D
[--dataset-type JSON] --cache DIR --heldout DIR` copies the base model from the content directory to
`<cache>/models/<M with / as -->/`, splits the dataset as the reference does (evaluation.md §1.2,
§1.4) and writes the train split to `<cache>/datasets/` and the held-out test split to `<heldout>/`.
The trainer sees only the cache; the test split never leaves the validator.

Every file appears atomically (written under a temporary name, then renamed), so a crash never leaves
a half model or a truncated split that looks complete, and running twice gives identical files.
Failures end with one `error: <reason>` line on stderr: exit 2 when the content cannot serve the task
(unknown id, missing column, too few rows, invalid reward function), exit 1 when this step broke.
"""

import argparse
import json
import math
import random
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .content import (IMAGE_TASK_TYPE, TASK_TYPES, ContentError, cache_model_dir_name, image_settings_name,
                      load_content)
from .prepare_rows import check_reward_functions, convert_rows, source_columns

MINIMUM_DATASET_ROWS = 2000
MAX_FILE_SIZE_BYTES = 2_147_483_646
TEST_FRACTION = 0.1
MAX_TEST_ROWS = 400
SPLIT_SEED = 42
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MINIMUM_IMAGE_PAIRS = 10
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# Zip entries carry a fixed timestamp so that preparing twice gives byte-identical archives.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def split_indices(n_rows):
    """(test, train) row indices exactly as the reference's split picks them.

    The reference calls `Dataset.train_test_split(test_size=min(int(0.1·N), 400), shuffle=True,
    seed=42)`. In HF datasets (src/datasets/arrow_dataset.py) an integer test_size is taken as the
    test count and train_size defaults to N − test; with no generator given, the seed becomes
    `np.random.default_rng(seed)`, the rows are permuted by `generator.permutation(len(self))`, and
    the split is `test = permutation[:n_test]`, `train = permutation[n_test:n_test + n_train]`,
    each selected in permutation order.
    """
    n_test = min(int(n_rows * TEST_FRACTION), MAX_TEST_ROWS)
    permutation = np.random.default_rng(SPLIT_SEED).permutation(n_rows)
    return permutation[:n_test].tolist(), permutation[n_test:].tolist()


def image_split(keys):
    """(test, train) image keys: a shuffle, then the first ceil(0.1·n) are the test set.

    The reference shuffles with the unseeded `random`; crucible sorts the keys and shuffles with
    seed 42 so that a task is prepared the same way every time (a declared deviation).
    """
    keys = sorted(keys, key=natural_key)
    random.Random(SPLIT_SEED).shuffle(keys)
    n_test = math.ceil(len(keys) * TEST_FRACTION)
    return keys[:n_test], keys[n_test:]


def natural_key(stem):
    """Numeric stems in number order (2 before 10), then the others by name."""
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def place_model(source, models_dir, model_id):
    """Copy the model folder to `<models_dir>/<id with / as -->`; keep a copy already there.

    The copy is built in a hidden staging folder and renamed into place, so the final name only
    ever holds a complete model. If another prepare renamed its copy first, ours is discarded.
    """
    destination = Path(models_dir) / cache_model_dir_name(model_id)
    if destination.is_dir():
        print(f"prepare: model {model_id} already at {destination}", flush=True)
        return destination
    if not Path(source).is_dir():
        raise ContentError(f"model {model_id}: {source} is not a folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.partial-"))
    try:
        shutil.copytree(source, staging / "model")
        (staging / "model").chmod(0o755)
        try:
            (staging / "model").rename(destination)
        except OSError:
            if not destination.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"prepare: model {model_id} placed at {destination}", flush=True)
    return destination


def write_atomically(path, data):
    """Write bytes to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            handle.write(data)
        Path(handle.name).chmod(0o644)
        Path(handle.name).replace(path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_json(path, rows):
    """One JSON array, serialised as the reference's plain `json.dump` does."""
    data = json.dumps(rows).encode("utf-8")
    if len(data) > MAX_FILE_SIZE_BYTES:
        raise ContentError(f"{Path(path).name} would be {len(data)} bytes, over the {MAX_FILE_SIZE_BYTES}-byte limit")
    write_atomically(path, data)


def read_rows(path, dataset_id):
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(f"dataset {dataset_id}: no file at {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContentError(f"dataset {dataset_id}: {path} is not valid JSON: {err}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ContentError(f"dataset {dataset_id}: {path} must be a JSON array of row objects")
    return rows


def prepare_text(content, dataset, task_type, task_id, reward_functions, cache, heldout):
    """Standardise, split and write a text dataset; return (train rows, test rows) counts."""
    rows = read_rows(content.path_of(dataset), dataset.id)
    columns = source_columns(task_type, dataset, rows)
    if len(rows) < MINIMUM_DATASET_ROWS:
        raise ContentError(
            f"dataset {dataset.id} has {len(rows)} rows, at least {MINIMUM_DATASET_ROWS} are needed"
        )
    test_indices, train_indices = split_indices(len(rows))
    train = convert_rows([rows[i] for i in train_indices], columns, task_type, dataset, "train")
    if task_type == "GrpoTask":
        check_reward_functions(reward_functions, train)
    test = convert_rows([rows[i] for i in test_indices], columns, task_type, dataset, "test")
    write_json(Path(cache) / "datasets" / f"{task_id}_train_data.json", train)
    write_json(Path(heldout) / f"{task_id}_test_data.json", test)
    return len(train), len(test)


def image_pairs(folder, dataset_id):
    """{stem: (image, caption)} for every image with a caption beside it; images without one are
    skipped. Like the reference, a folder with no image at its top uses its first image subfolder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContentError(f"dataset {dataset_id}: {folder} is not a folder")

    def images_in(path):
        return [f for f in sorted(path.iterdir()) if f.is_file() and f.suffix in IMAGE_SUFFIXES]

    if not images_in(folder):
        subfolders = [d for d in sorted(folder.iterdir()) if d.is_dir() and images_in(d)]
        if not subfolders:
            raise ContentError(f"dataset {dataset_id}: no .png/.jpg/.jpeg image in {folder}")
        folder = subfolders[0]
    return {f.stem: (f, f.with_suffix(".txt")) for f in images_in(folder) if f.with_suffix(".txt").is_file()}


def image_zip(pairs, keys, stem):
    """A zip of the given pairs, every entry in a folder named `stem` (`train_data/3.png`)."""
    buffer = tempfile.SpooledTemporaryFile()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(keys, key=natural_key):
            for file in pairs[key]:
                info = zipfile.ZipInfo(f"{stem}/{file.name}", date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, file.read_bytes())
    buffer.seek(0)
    return buffer.read()


def prepare_image(content, dataset, task_id, cache, heldout):
    """Split an image folder into the trainer's zip and the held-out zip; return their sizes."""
    pairs = image_pairs(content.path_of(dataset), dataset.id)
    if len(pairs) < MINIMUM_IMAGE_PAIRS:
        raise ContentError(
            f"dataset {dataset.id} has {len(pairs)} image/caption pairs, "
            f"at least {MINIMUM_IMAGE_PAIRS} are needed"
        )
    test_keys, train_keys = image_split(pairs)
    write_atomically(Path(cache) / "datasets" / f"{task_id}_tourn.zip", image_zip(pairs, train_keys, "train_data"))
    write_atomically(Path(heldout) / f"{task_id}_test_data.zip", image_zip(pairs, test_keys, "test_data"))
    return len(train_keys), len(test_keys)


def reward_functions_for(dataset_type_json, content):
    """(name, source) of the reward functions to check: those of --dataset-type when given,
    else every reward function of the content (any of them may be drawn for the task)."""
    if dataset_type_json is None:
        return [(f.reward_id, f.reward_func) for f in content.reward_functions]
    try:
        dataset_type = json.loads(dataset_type_json)
    except json.JSONDecodeError as err:
        raise ContentError(f"--dataset-type is not valid JSON: {err}") from None
    functions = dataset_type.get("reward_functions") if isinstance(dataset_type, dict) else None
    if not isinstance(functions, list):
        raise ContentError("--dataset-type of a GrpoTask needs a list reward_functions")
    named = []
    for index, function in enumerate(functions):
        source = function.get("reward_func") if isinstance(function, dict) else None
        if not isinstance(source, str):
            raise ContentError(f"--dataset-type reward_functions[{index}] has no reward_func source")
        named.append((function.get("reward_id") or f"reward_functions[{index}]", source))
    return named


def prepare(args):
    if not TASK_ID.match(args.task_id):
        raise ContentError(f"task id {args.task_id!r} is not usable as a file name")
    content = load_content(args.content)
    model = content.model(args.model)
    dataset = content.dataset(args.dataset)
    if args.task_type not in dataset.task_types:
        served = ", ".join(dataset.task_types)
        raise ContentError(f"dataset {dataset.id} does not serve {args.task_type} (it serves {served})")
    is_image = args.task_type == IMAGE_TASK_TYPE
    if is_image != (model.model_type is not None):
        kind = "an image (sdxl/flux)" if is_image else "a text"
        raise ContentError(f"{args.task_type} needs {kind} model, and {model.id} is not one")
    place_model(content.path_of(model), Path(args.cache) / "models", model.id)
    if is_image:
        train, test = prepare_image(content, dataset, args.task_id, args.cache, args.heldout)
        if model.resolution is not None:
            write_atomically(
                Path(args.heldout) / image_settings_name(args.task_id),
                json.dumps({"long_side": model.resolution}).encode(),
            )
        print(f"prepare: {dataset.id} split into {train} train and {test} test images", flush=True)
    else:
        rewards = reward_functions_for(args.dataset_type, content) if args.task_type == "GrpoTask" else []
        train, test = prepare_text(content, dataset, args.task_type, args.task_id, rewards, args.cache, args.heldout)
        print(f"prepare: {dataset.id} split into {train} train and {test} test rows", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m crucible_eval.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--content", default="/content")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--task-type", required=True, choices=TASK_TYPES)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--dataset-type", default=None)
    parser.add_argument("--cache", default="/cache")
    parser.add_argument("--heldout", default="/heldout")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        prepare(args)
    except ContentError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    except Exception as err:  # noqa: BLE001 - the edge of the program: report, never a traceback alone
        print(f"error: prepare failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
