"""Direct preference optimisation for DpoTask, written out in torch.

The evaluator's score is the sigmoid DPO loss with β 0.1 and the base model as the reference
(evaluation.md §2.5):  −log σ(β·[(log πθ(c) − log πref(c)) − (log πθ(r) − log πref(r))]),
with log π(x) the summed log-probability of completion x after the prompt. Training minimises the
same loss. The reference never changes, so its log-probabilities are computed once, before the first
step, instead of on every step.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from . import formats
from common.clock import Deadline
from .loop import Optimizer, Progress, batches, collate, planned_steps, token_logps
from .modelio import autocast, device, frozen_reference
from .settings import Settings


def build_pairs(rows, dataset_type, tokenizer, max_len: int) -> list[formats.Pair]:
    pairs = [formats.dpo_pair(row, dataset_type, tokenizer, max_len) for row in rows]
    kept = [p for p in pairs if p is not None]
    print(f"[dpo] {len(kept)} of {len(rows)} rows usable (length limit {max_len})", flush=True)
    if not kept:
        raise formats.DatasetError("no DPO row has a chosen and a rejected completion left after truncation")
    return kept


def completion_logps(model, samples: list[formats.Sample], pad_id: int) -> torch.Tensor:
    """Summed log-probability of each sample's completion tokens."""
    batch = collate(samples, pad_id, device())
    with autocast():
        logps, _ = token_logps(model, batch)
    return logps.sum(-1)


def preference_logits(policy: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(πθ(c) − πref(c)) − (πθ(r) − πref(r)) per pair, from [chosen…, rejected…] stacked log-probs."""
    n = policy.shape[0] // 2
    return (policy[:n] - reference[:n]) - (policy[n:] - reference[n:])


def dpo_loss(logits: torch.Tensor, beta: float) -> torch.Tensor:
    return -F.logsigmoid(beta * logits).mean()


@torch.no_grad()
def reference_logps(model, pairs, pad_id: int, deadline: Deadline, batch_size: int) -> list[tuple[float, float]]:
    reference = frozen_reference(model)
    out = []
    with reference() as ref:
        ref.eval()
        for i in range(0, len(pairs), batch_size):
            if deadline.passed():
                break
            chunk = pairs[i : i + batch_size]
            logps = completion_logps(ref, [p.chosen for p in chunk] + [p.rejected for p in chunk], pad_id)
            n = len(chunk)
            out += list(zip(logps[:n].tolist(), logps[n:].tolist()))
    return out


def train(model, tokenizer, rows, dataset_type, settings: Settings, deadline: Deadline, seq_len: int):
    rng = random.Random(settings.seed)
    max_len = min(formats.DPO_MAX_LENGTH, settings.max_seq_len)
    pairs = build_pairs(rows, dataset_type, tokenizer, max_len)
    pad_id = tokenizer.pad_token_id
    print(f"[dpo] scoring {len(pairs)} pairs with the frozen base model", flush=True)
    refs = reference_logps(model, pairs, pad_id, deadline, settings.batch_size)
    # Pairs the clock left unscored are not trained on.
    items = list(zip(pairs[: len(refs)], refs))

    total = planned_steps(len(items), settings)
    optimizer = Optimizer(model, settings, total)
    progress = Progress("dpo", total)
    model.train()
    for step, chunk in enumerate(batches(items, settings, rng), start=1):
        if deadline.passed():
            print(f"[dpo] stopping at step {step - 1}/{total}: the time budget is spent", flush=True)
            break
        samples = [p.chosen for p, _ in chunk] + [p.rejected for p, _ in chunk]
        reference = torch.tensor([r[0] for _, r in chunk] + [r[1] for _, r in chunk], device=device())
        logits = preference_logits(completion_logps(model, samples, pad_id), reference)
        loss = dpo_loss(logits, settings.beta)
        if not optimizer.step(loss):
            print(f"[dpo] stopping at step {step}/{total}: {optimizer.stopped}", flush=True)
            break
        accuracy = (logits > 0).float().mean().item()
        progress.log(step, loss.item(), optimizer.lr(), f" margin {logits.mean().item():.3f} acc {accuracy:.2f}")
    return progress.summary()
