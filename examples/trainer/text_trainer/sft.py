"""Supervised fine-tuning for InstructTextTask and ChatTask.

The evaluator scores the mean cross-entropy of the output (or assistant) tokens given the prompt, so
training minimises exactly that: prompt tokens are masked out of the labels. A small share of the
training rows is held back and scored before and after, the way the evaluator scores the test split,
so the log shows whether training helped.
"""

from __future__ import annotations

import random

import torch

from . import formats
from common.clock import Deadline
from .loop import Optimizer, Progress, batches, collate, per_sample_loss, planned_steps
from .modelio import autocast, device
from .settings import Settings


def build_samples(rows: list[dict], task_type: str, dataset_type: dict, tokenizer, seq_len: int):
    make = formats.chat_sample if task_type == "ChatTask" else formats.instruct_sample
    template = dataset_type.get("chat_template")
    if task_type == "ChatTask" and template not in (None, "chatml"):
        print(f"[sft] chat template {template!r} is not supported here; training with chatml", flush=True)
    samples = [make(row, dataset_type, tokenizer, seq_len) for row in rows]
    kept = [s for s in samples if s is not None]
    print(f"[sft] {len(kept)} of {len(rows)} rows usable (sequence length {seq_len})", flush=True)
    if not kept:
        raise formats.DatasetError(
            f"no training row fits: each needs at least one output token and at most {seq_len} tokens in all"
        )
    return kept


def split_holdout(samples: list, settings: Settings, rng: random.Random) -> tuple[list, list]:
    n = min(200, int(len(samples) * settings.holdout_fraction))
    if n == 0 or len(samples) - n < 1:
        return samples, []
    order = list(samples)
    rng.shuffle(order)
    return order[n:], order[:n]


@torch.no_grad()
def mean_loss(model, samples: list, pad_id: int, batch_size: int = 8) -> float | None:
    """Mean over samples of each sample's mean token loss (the evaluator's `eval_loss`)."""
    if not samples:
        return None
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(samples), batch_size):
        batch = collate(samples[i : i + batch_size], pad_id, device())
        with autocast():
            total += per_sample_loss(model, batch).sum().item()
    model.train(was_training)
    return total / len(samples)


def train(model, tokenizer, rows, task_type, dataset_type, settings: Settings, deadline: Deadline, seq_len: int):
    rng = random.Random(settings.seed)
    samples = build_samples(rows, task_type, dataset_type, tokenizer, seq_len)
    train_set, holdout = split_holdout(samples, settings, rng)
    pad_id = tokenizer.pad_token_id
    before = mean_loss(model, holdout, pad_id)
    if before is not None:
        print(f"[sft] held-out loss before training {before:.4f} ({len(holdout)} rows)", flush=True)

    total = planned_steps(len(train_set), settings)
    optimizer = Optimizer(model, settings, total)
    progress = Progress("sft", total)
    model.train()
    for step, chunk in enumerate(batches(train_set, settings, rng), start=1):
        if deadline.passed():
            print(f"[sft] stopping at step {step - 1}/{total}: the time budget is spent", flush=True)
            break
        batch = collate(chunk, pad_id, device())
        with autocast():
            # Token-weighted mean over the batch: long outputs count for more per step, which trains
            # faster than the evaluator's per-sample mean and aims at the same minimum.
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        if not optimizer.step(out.loss):
            print(f"[sft] stopping at step {step}/{total}: {optimizer.stopped}", flush=True)
            break
        progress.log(step, out.loss.item(), optimizer.lr())

    after = mean_loss(model, holdout, pad_id)
    if after is not None:
        print(f"[sft] held-out loss after training {after:.4f} (before {before:.4f})", flush=True)
    return {**progress.summary(), "holdout_before": before, "holdout_after": after}
