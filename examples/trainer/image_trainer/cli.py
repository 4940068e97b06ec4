"""Entry point: the standard image arguments in, `checkpoints/last.safetensors` in the output out.

The validator runs the image's ENTRYPOINT with (miner-contract.md §2)
  --task-id --model --dataset-zip --model-type --expected-repo-name --hours-to-complete
after placing the base pipeline at /cache/models/<model with / replaced by --> and the training
zip at /cache/datasets/<task-id>_tourn.zip, and mounting /app/checkpoints/<task-id>/<expected-repo-name>
for the output. There is no network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import data, flux, loop, sdxl
from . import settings as settings_mod
from common import entry
from common.clock import Deadline
from .denoiser import ModelError, device

MODELS = {"sdxl": sdxl, "flux": flux}
# The trainer's own failures (bad input, bad settings) are reported as one `error:` line, exit 2.
KNOWN_ERRORS = (settings_mod.SettingsError, data.DatasetError, ModelError)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="image_trainer", description="Fine-tunes a LoRA for one image task.")
    parser.add_argument("--model", required=True, help="base model id; its pipeline is under /cache/models")
    parser.add_argument("--dataset-zip", help="training zip (default /cache/datasets/<task-id>_tourn.zip)")
    parser.add_argument("--model-type", required=True, choices=settings_mod.MODEL_TYPES, type=str.lower)
    return entry.parse_known(parser, argv, "image-trainer")


def paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """Base pipeline folder, training zip and output folder, with the test-only overrides applied."""
    return entry.paths(args, args.dataset_zip, f"{args.task_id}_tourn.zip")


def run(argv: list[str] | None = None, config: Path | None = None) -> dict:
    """Trains and saves; returns a summary of the run (raises on failure)."""
    args = parse_args(argv)
    settings = settings_mod.load(args.model_type, config)
    return entry.under_deadline(args.hours_to_complete, settings, lambda d: _train(args, settings, d))


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
    entry.seed_everything(settings.seed)
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
    return entry.main(run, KNOWN_ERRORS, argv)
