"""The optimizer loop shared by SDXL and Flux.

Batches hold images of one size only (the images keep their aspect ratio, as the evaluator's do),
so examples are grouped into buckets by latent shape and each epoch shuffles within and across
buckets. The loop stops at the step cap, at the end of the epochs, or at the deadline, whichever
comes first. A step that produces a non-finite loss or non-finite weights is undone and ends
training: the LoRA saved is then the last finite one, never a file that makes the model emit NaN.

A probe loss, the mean loss of a few training images under fixed noise, timesteps and prompt
choice, is measured before and after training; unlike the per-step loss, which depends on the
drawn timesteps, the two probe values are directly comparable.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Callable, Iterator

import torch

from common.clock import Deadline
from .denoiser import LoraDenoiser
from .settings import ImageSettings

PROBE_IMAGES = 8
PROBE_DRAWS = 2


def buckets(denoiser: LoraDenoiser) -> list[list[int]]:
    """Example indices grouped by latent shape, in order of first appearance."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, example in enumerate(denoiser.examples):
        groups[tuple(example.latent_mean.shape)].append(index)
    return list(groups.values())


def epoch_batches(groups: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    batches = []
    for group in groups:
        order = group[:]
        rng.shuffle(order)
        batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_stream(groups, batch_size: int, epochs: int, rng: random.Random) -> Iterator[list[int]]:
    for _ in range(epochs):
        yield from epoch_batches(groups, batch_size, rng)


def planned_steps(groups, settings: ImageSettings) -> int:
    per_epoch = sum(math.ceil(len(group) / settings.batch_size) for group in groups)
    total = per_epoch * settings.epochs
    return min(total, settings.max_steps) if settings.max_steps else total


def probe_loss(denoiser: LoraDenoiser, settings: ImageSettings) -> float:
    """Mean loss over a few images, with and without caption, under noise fixed by the seed."""
    generator = torch.Generator().manual_seed(settings.seed + 1)
    chosen = list(range(min(PROBE_IMAGES, len(denoiser.examples))))
    total, count = 0.0, 0
    with torch.no_grad():
        for _ in range(PROBE_DRAWS):
            for index in chosen:
                for caption in (True, False):
                    total += float(denoiser.loss([index], [caption], generator))
                    count += 1
    return total / count


def train(denoiser: LoraDenoiser, settings: ImageSettings, deadline: Deadline, log: Callable = print) -> dict:
    """Trains the LoRA in place; returns a summary (steps, losses, why it stopped)."""
    params = denoiser.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    warmup = settings.warmup_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / (warmup + 1)))
    rng = random.Random(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    groups = buckets(denoiser)
    total = planned_steps(groups, settings)
    every = max(1, total // 20)

    probe_before = probe_loss(denoiser, settings)
    log(f"[image-trainer] {len(denoiser.examples)} images in {len(groups)} size bucket(s), {total} steps planned, "
        f"probe loss {probe_before:.4f}")
    losses: list[float] = []
    stopped = "steps done"
    last_good = denoiser.snapshot()
    denoiser.model.train()
    for step, indices in enumerate(batch_stream(groups, settings.batch_size, settings.epochs, rng)):
        if step >= total:
            break
        if deadline.passed():
            stopped = "deadline"
            break
        with_caption = [rng.random() >= settings.caption_dropout for _ in indices]
        loss = denoiser.loss(indices, with_caption, generator)
        if not torch.isfinite(loss):
            stopped = f"non-finite loss at step {step}; kept the last finite weights"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
        optimizer.step()
        schedule.step()
        if not denoiser.weights_finite():
            denoiser.restore(last_good)
            stopped = f"non-finite weights after step {step}; kept the last finite weights"
            break
        last_good = denoiser.snapshot()
        losses.append(float(loss))
        if (step + 1) % every == 0 or step + 1 == total:
            window = losses[-every:]
            log(f"[image-trainer] step {step + 1}/{total} loss {sum(window) / len(window):.4f} "
                f"({deadline.elapsed():.0f} s)")
    denoiser.model.eval()
    probe_after = probe_loss(denoiser, settings)
    log(f"[image-trainer] stopped: {stopped}; probe loss {probe_before:.4f} -> {probe_after:.4f}")
    tenth = max(1, len(losses) // 10)
    return {
        "steps": len(losses),
        "planned_steps": total,
        "stopped": stopped,
        "losses": [round(value, 6) for value in losses],
        # Mean loss of the first and the last tenth of the steps (single steps are noisy).
        "loss_start": sum(losses[:tenth]) / tenth if losses else None,
        "loss_end": sum(losses[-tenth:]) / tenth if losses else None,
        "probe_loss_before": probe_before,
        "probe_loss_after": probe_after,
    }
