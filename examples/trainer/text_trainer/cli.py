"""Entry point: the standard arguments in, a trained model in the output directory out.

The validator runs the image's ENTRYPOINT with the standard arguments (miner-contract.md §2):
  --task-id --model --dataset --dataset-type --task-type --file-format --expected-repo-name
  --hours-to-complete
It has placed the base model at /cache/models/<model with / replaced by -->, the training rows at
--dataset, and mounted the output directory /app/checkpoints/<task-id>/<expected-repo-name>.
There is no network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import dpo, formats, grpo, modelio, rewards, settings as settings_mod, sft
from common import entry
from common.clock import Deadline

# The trainer's own failures (bad input, bad settings) are reported as one `error:` line.
KNOWN_ERRORS = (
    settings_mod.SettingsError,
    formats.DatasetError,
    modelio.ModelError,
    rewards.RewardError,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="text_trainer", description="Fine-tunes a text model for one task.")
    parser.add_argument("--model", required=True, help="base model id; its files are under /cache/models")
    parser.add_argument("--dataset", help="training rows, a JSON array (default /cache/datasets/<task-id>_train_data.json)")
    parser.add_argument("--dataset-type", required=True, help="column mapping as JSON")
    parser.add_argument("--task-type", required=True, choices=settings_mod.TASK_TYPES)
    parser.add_argument("--file-format", default="s3", help="informative: the file is already local")
    return entry.parse_known(parser, argv, "trainer")


def paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """Base model folder, dataset file and output folder, with the test-only overrides applied."""
    return entry.paths(args, args.dataset, f"{args.task_id}_train_data.json")


def run(argv: list[str] | None = None, config: Path | None = None) -> dict:
    """Trains and saves; returns a summary of the run (raises on failure)."""
    args = parse_args(argv)
    settings = settings_mod.load(args.task_type, config)
    return entry.under_deadline(args.hours_to_complete, settings, lambda d: _train(args, settings, d))


def _train(args: argparse.Namespace, settings, deadline: Deadline) -> dict:
    try:
        dataset_type = json.loads(args.dataset_type)
    except json.JSONDecodeError as e:
        raise formats.DatasetError(f"--dataset-type is not JSON: {e}") from None
    if not isinstance(dataset_type, dict):
        raise formats.DatasetError("--dataset-type must be a JSON object")
    base_dir, dataset, out_dir = paths(args)
    print(
        f"[trainer] task {args.task_id} ({args.task_type}) model {args.model} mode {settings.mode} "
        f"device {modelio.device().type} budget {deadline.budget / 60:.1f} min",
        flush=True,
    )
    print(f"[trainer] base {base_dir} data {dataset} output {out_dir}", flush=True)
    summary: dict = {"task_type": args.task_type, "mode": settings.mode, "output": str(out_dir)}
    if not base_dir.is_dir():
        raise modelio.ModelError(f"the base model {args.model} is not at {base_dir}")

    if settings.mode == "unchanged":
        copied = modelio.copy_unchanged(base_dir, out_dir)
        print(f"[trainer] wrote the base model unchanged ({len(copied)} files)", flush=True)
        return summary

    entry.seed_everything(settings.seed)
    rows = formats.load_rows(dataset)
    tokenizer = modelio.load_tokenizer(base_dir)
    model = modelio.load_model(base_dir, settings)
    seq_len = formats.eval_seq_len(model.config, settings.max_seq_len)
    if args.task_type in ("InstructTextTask", "ChatTask"):
        summary |= sft.train(model, tokenizer, rows, args.task_type, dataset_type, settings, deadline, seq_len)
    elif args.task_type == "DpoTask":
        summary |= dpo.train(model, tokenizer, rows, dataset_type, settings, deadline, seq_len)
    else:
        summary |= grpo.train(model, tokenizer, rows, dataset_type, settings, deadline, seq_len)

    modelio.save(model, tokenizer, out_dir, args.model, base_dir)
    summary["seconds"] = round(deadline.elapsed(), 1)
    print(f"[trainer] saved to {out_dir} after {summary['seconds']} s", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    return entry.main(run, KNOWN_ERRORS, argv)
