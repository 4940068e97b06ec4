"""Entry point: the standard image arguments in, `checkpoints/last.safetensors` in the output out.

The validator runs the image's ENTRYPOINT with (miner-contract.md §2)
  --task-id --model --dataset-zip --model-type --expected-repo-name --hours-to-complete
after placing the base pipeline at /cache/models/<model with / replaced by --> and the training
zip at /cache/datasets/<task-id>_tourn.zip, and mounting /app/checkpoints/<task-id>/<expected-repo-name>
for the output. There is no network. CRUCIBLE_CACHE_DIR and CRUCIBLE_OUTPUT_ROOT move /cache and
/app/checkpoints for tests on a machine without those folders.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import torch

from . import data, flux, loop, sdxl
from . import settings as settings_mod
from common.clock import Deadline
from .denoiser import ModelError, device

CACHE_DIR = "/cache"
OUTPUT_ROOT = "/app/checkpoints"
MODELS = {"sdxl": sdxl, "flux": flux}
# The trainer's own failures (bad input, bad settings) are reported as one `error:` line, exit 2.
KNOWN_ERRORS = (settings_mod.SettingsError, data.DatasetError, ModelError)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="image_trainer", description="Fine-tunes a LoRA for one image task.")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--model", required=True, help="base model id; its pipeline is under /cache/models")
    parser.add_argument("--dataset-zip", help="training zip (default /cache/datasets/<task-id>_tourn.zip)")
    parser.add_argument("--model-type", required=True, choices=settings_mod.MODEL_TYPES, type=str.lower)
    parser.add_argument("--expected-repo-name", required=True)
    parser.add_argument("--hours-to-complete", type=float, default=0.0)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # A newer validator may pass more; ignoring them keeps this repository working.
        print(f"[image-trainer] ignoring unknown arguments {unknown}", flush=True)
    return args


def paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """Base pipeline folder, training zip and output folder, with the test-only overrides applied."""
    cache = os.environ.get("CRUCIBLE_CACHE_DIR", CACHE_DIR)
    base_dir = Path(cache) / "models" / args.model.replace("/", "--")
    dataset = args.dataset_zip or f"{CACHE_DIR}/datasets/{args.task_id}_tourn.zip"
    if dataset.startswith(CACHE_DIR + "/"):
        dataset = cache + dataset[len(CACHE_DIR) :]
    out_root = os.environ.get("CRUCIBLE_OUTPUT_ROOT", OUTPUT_ROOT)
    return base_dir, Path(dataset), Path(out_root) / args.task_id / args.expected_repo_name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def run(argv: list[str] | None = None, config: Path | None = None) -> dict:
    """Trains and saves; returns a summary of the run (raises on failure)."""
    args = parse_args(argv)
    settings = settings_mod.load(args.model_type, config)
    deadline = Deadline(args.hours_to_complete, settings)
    # `docker stop` sends SIGTERM: end the current step, then save what has been learned so far.
    previous = signal.signal(signal.SIGTERM, lambda *_: deadline.expire())
    try:
        return _train(args, settings, deadline)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(args, settings: settings_mod.ImageSettings, deadline: Deadline) -> dict:
    base_dir, dataset, out_dir = paths(args)
    print(
        f"[image-trainer] task {args.task_id} ({args.model_type}) model {args.model} mode {settings.mode} "
        f"device {device().type} budget {deadline.budget / 60:.1f} min",
        flush=True,
    )
    print(f"[image-trainer] base {base_dir} data {dataset} output {out_dir}", flush=True)
    if not base_dir.is_dir():
        raise ModelError(f"the base model {args.model} is not at {base_dir}")
    seed_everything(settings.seed)
    model = MODELS[args.model_type]
    images = data.load_zip(dataset, settings.resolution, model.SIZE_MULTIPLE)
    # An unchanged run needs no latents or captions: only the denoiser, to shape the zero LoRA.
    denoiser = model.load(base_dir, images if settings.mode == "lora" else [], settings)
    summary: dict = {"model_type": args.model_type, "mode": settings.mode, "images": len(images)}
    if settings.mode == "lora":
        summary |= loop.train(denoiser, settings, deadline)
    else:
        # The LoRA starts with B = 0: saved untrained, it leaves the base model's outputs unchanged.
        print("[image-trainer] mode unchanged: writing an all-zero LoRA", flush=True)
    path = denoiser.save(out_dir)
    summary["output"] = str(path)
    summary["seconds"] = round(deadline.elapsed(), 1)
    print(f"[image-trainer] saved {path} after {summary['seconds']} s", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        summary = run(argv)
    except KNOWN_ERRORS as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    # The per-step losses are in the log already; the last line stays short.
    summary.pop("losses", None)
    print(json.dumps(summary), flush=True)
    return 0
