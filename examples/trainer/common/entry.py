"""What both entry points do around their training: the standard arguments, the paths under /cache
and /app/checkpoints, seeding, the deadline, and the one-line result or error.

CRUCIBLE_CACHE_DIR and CRUCIBLE_OUTPUT_ROOT move /cache and /app/checkpoints for tests on a machine
without those folders.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
from pathlib import Path

import torch

from .clock import Deadline

CACHE_DIR = "/cache"
OUTPUT_ROOT = "/app/checkpoints"


def parse_known(parser: argparse.ArgumentParser, argv: list[str] | None, tag: str) -> argparse.Namespace:
    """Adds the arguments both trainers take and parses; unknown arguments are shown and ignored."""
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--expected-repo-name", required=True)
    parser.add_argument("--hours-to-complete", type=float, default=0.0)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # A newer validator may pass more; ignoring them keeps this repository working.
        print(f"[{tag}] ignoring unknown arguments {unknown}", flush=True)
    return args


def paths(args: argparse.Namespace, dataset: str | None, default_dataset: str) -> tuple[Path, Path, Path]:
    """Base model folder, training data and output folder, with the test-only overrides applied.

    `dataset` is the path the validator passed, if any; `default_dataset` the file name under
    /cache/datasets otherwise.
    """
    cache = os.environ.get("CRUCIBLE_CACHE_DIR", CACHE_DIR)
    base_dir = Path(cache) / "models" / args.model.replace("/", "--")
    dataset = dataset or f"{CACHE_DIR}/datasets/{default_dataset}"
    if dataset.startswith(CACHE_DIR + "/"):
        dataset = cache + dataset[len(CACHE_DIR) :]
    out_root = os.environ.get("CRUCIBLE_OUTPUT_ROOT", OUTPUT_ROOT)
    return base_dir, Path(dataset), Path(out_root) / args.task_id / args.expected_repo_name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def under_deadline(hours_to_complete: float, settings, train) -> dict:
    """`train(deadline)`, with `docker stop`'s SIGTERM ending the current step so the run saves what
    it has learned so far."""
    deadline = Deadline(hours_to_complete, settings)
    previous = signal.signal(signal.SIGTERM, lambda *_: deadline.expire())
    try:
        return train(deadline)
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(run, known_errors: tuple[type[Exception], ...], argv: list[str] | None) -> int:
    """The trainer's own failures (bad input, bad settings) are one `error:` line and exit 2; a
    success ends with its summary as one JSON line (the per-step losses are in the log already)."""
    try:
        summary = run(argv)
    except known_errors as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    summary.pop("losses", None)
    print(json.dumps(summary), flush=True)
    return 0
