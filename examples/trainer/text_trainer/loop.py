"""Pieces every training loop shares: batching, the optimizer and its schedule, token log-probabilities.

Written by hand in plain torch rather than through a trainer library so the whole training is
readable in a few files and nothing needs installing beyond torch, transformers and peft.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from .formats import IGNORE, Sample
from .settings import Settings


def planned_steps(n_items: int, settings: Settings) -> int:
    steps = settings.epochs * math.ceil(n_items / settings.batch_size)
    return min(steps, settings.max_steps) if settings.max_steps else steps


def batches(items: list, settings: Settings, rng: random.Random):
    """Shuffled batches, epoch after epoch, up to the planned number of steps."""
    total = planned_steps(len(items), settings)
    produced = 0
    while produced < total:
        order = list(items)
        rng.shuffle(order)
        for i in range(0, len(order), settings.batch_size):
            if produced == total:
                return
            produced += 1
            yield order[i : i + settings.batch_size]


def collate(samples: list[Sample], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked out of attention and labels."""
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, s in enumerate(samples):
        n = len(s.input_ids)
        ids[row, :n] = torch.tensor(s.input_ids)
        labels[row, :n] = torch.tensor(s.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def token_logps(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of every labelled next token, and the mask of labelled positions.

    Position t predicts token t+1, as in the causal-LM loss the evaluator uses.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE
    logps = torch.gather(F.log_softmax(logits, dim=-1), 2, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logps * mask, mask


def per_sample_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over each sample's labelled tokens (the evaluator averages these per sample)."""
    logps, mask = token_logps(model, batch)
    return -logps.sum(-1) / mask.sum(-1).clamp(min=1)


class Optimizer:
    """AdamW with linear warm-up and linear decay, gradient clipping, one call per step.

    A step whose loss is not finite is not taken, and a step that leaves a weight non-finite is
    undone: `step` then returns False and the loop ends with the last finite weights, so a run whose
    learning rate is too high still saves a model the evaluator can score. `undo` also takes back
    the step before, for a loop that finds out only later (sampling from the updated model) that
    the weights have gone bad.
    """

    def __init__(self, model, settings: Settings, total_steps: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.settings = settings
        self.opt = torch.optim.AdamW(self.params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        warmup = max(1, int(settings.warmup_ratio * total_steps))
        total = max(total_steps, warmup + 1)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / (total - warmup))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, factor)
        # The trainable weights before the last step taken (on the CPU, so a GPU holds one copy).
        self.before: list[torch.Tensor] | None = None
        self.stopped: str | None = None

    def step(self, loss: torch.Tensor) -> bool:
        """Takes one step; False (and `stopped` says why) when training must end here."""
        if not torch.isfinite(loss.detach()).all():
            self.opt.zero_grad(set_to_none=True)
            self.stopped = "non-finite loss; kept the last finite weights"
            return False
        loss.backward()
        if self.settings.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.settings.max_grad_norm)
        kept = [p.detach().to("cpu", copy=True) for p in self.params]
        self.opt.step()
        self.schedule.step()
        self.opt.zero_grad(set_to_none=True)
        if not all(torch.isfinite(p).all() for p in self.params):
            self._restore(kept)
            self.stopped = "non-finite weights after a step; undid it"
            return False
        self.before = kept
        return True

    def undo(self, why: str) -> None:
        """Restores the weights from before the last step taken, because of `why`."""
        if self.before is not None:
            self._restore(self.before)
        self.stopped = f"{why}; undid the last step"

    @torch.no_grad()
    def _restore(self, weights: list[torch.Tensor]) -> None:
        for param, value in zip(self.params, weights):
            param.copy_(value.to(param.device))

    def lr(self) -> float:
        return self.schedule.get_last_lr()[0]


class Progress:
    """Prints a line every `every` steps and keeps the loss history for the summary."""

    def __init__(self, name: str, total: int, every: int | None = None):
        self.name, self.total = name, total
        self.every = every or max(1, total // 20)
        self.losses: list[float] = []

    def log(self, step: int, loss: float, lr: float, extra: str = "") -> None:
        self.losses.append(loss)
        if step == 1 or step % self.every == 0 or step == self.total:
            print(f"[{self.name}] step {step}/{self.total} loss {loss:.4f} lr {lr:.2e}{extra}", flush=True)

    def summary(self) -> dict:
        window = max(1, min(10, len(self.losses) // 4))
        first, last = self.losses[:window], self.losses[-window:]
        return {
            "steps": len(self.losses),
            "first_loss": sum(first) / len(first) if first else None,
            "last_loss": sum(last) / len(last) if last else None,
        }
