"""Group-relative policy optimisation for GrpoTask, written out in torch.

The evaluator samples completions for each test prompt, scores them with the task's reward functions
(weighted), and subtracts 0.5 × the KL divergence from the base model (evaluation.md §2.6). Each
training step here does the same on a batch of training prompts:
1. sample `num_generations` completions per prompt (raw prompt, no special tokens, as the evaluator);
2. score them with the weighted reward functions;
3. advantage = (reward − group mean) / (group std + 1e-4), so only differences within a prompt's
   group count and no value model is needed;
4. one policy-gradient step on −advantage × log π(completion token), plus `kl_beta` × a per-token KL
   estimate against the frozen base on the completions, plus `prompt_kl_beta` × the exact KL from the
   base on the prompts. The last term is the evaluator's own penalty (it measures KL on the prompts
   alone, with the tokenizer's special tokens), so drifting there costs score directly.
"""

from __future__ import annotations

import random

import torch

from . import formats, rewards
from common.clock import Deadline
from .loop import Optimizer, Progress, batches, planned_steps
from .modelio import autocast, device, frozen_reference
from .settings import Settings

MAX_PROMPT_TOKENS = 512


def build_prompts(rows, dataset_type, tokenizer, seq_len: int) -> list[tuple[str, object]]:
    limit = min(MAX_PROMPT_TOKENS, seq_len)
    kept = []
    for row in rows:
        text = formats.grpo_prompt(row, dataset_type)
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
        if 0 < n <= limit:
            kept.append((text, row.get("extra_data")))
    print(f"[grpo] {len(kept)} of {len(rows)} prompts usable (1 to {limit} tokens)", flush=True)
    if not kept:
        raise formats.DatasetError(f"no GRPO prompt is between 1 and {limit} tokens long")
    return kept


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], settings: Settings):
    """Samples completions; returns the full sequences, attention mask, prompt width and completion mask."""
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt").to(device())
    was_training = model.training
    model.eval()
    with autocast():
        sequences = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            do_sample=True,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=1.0,
            max_new_tokens=settings.max_new_tokens,
            num_return_sequences=settings.num_generations,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    model.train(was_training)
    width = enc["input_ids"].shape[1]
    completion = sequences[:, width:]
    # Everything up to and including the first EOS belongs to the completion; the rest is padding.
    is_eos = completion == tokenizer.eos_token_id
    first_eos = torch.where(is_eos.any(1), is_eos.int().argmax(1), completion.shape[1])
    positions = torch.arange(completion.shape[1], device=completion.device)
    completion_mask = (positions.unsqueeze(0) <= first_eos.unsqueeze(1)).long()
    prompt_mask = enc["attention_mask"].repeat_interleave(settings.num_generations, dim=0)
    attention = torch.cat([prompt_mask, completion_mask], dim=1)
    return sequences, attention, width, completion_mask


def completion_token_logps(model, sequences, attention, width: int, temperature: float) -> torch.Tensor:
    # Left padding shifts the prompts; positions follow the attention mask, as during generation.
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    with autocast():
        logits = model(input_ids=sequences, attention_mask=attention, position_ids=positions).logits
    logits = logits[:, width - 1 : -1].float() / temperature
    targets = sequences[:, width:]
    return torch.gather(torch.log_softmax(logits, -1), 2, targets.unsqueeze(-1)).squeeze(-1)


def group_advantages(scores: torch.Tensor, group: int) -> torch.Tensor:
    grouped = scores.view(-1, group)
    mean = grouped.mean(1, keepdim=True)
    std = grouped.std(1, keepdim=True)
    return ((grouped - mean) / (std + 1e-4)).view(-1)


def policy_loss(logps, ref_logps, advantages, mask, kl_beta: float) -> tuple[torch.Tensor, float]:
    """GRPO loss of one on-policy step, and the mean per-token KL estimate to the base."""
    # exp(logp − logp.detach()) is 1 but carries the gradient of log π, scaled by the advantage.
    ratio = torch.exp(logps - logps.detach())
    delta = ref_logps - logps
    kl = torch.exp(delta) - delta - 1  # k3 estimator: non-negative, unbiased
    per_token = -(ratio * advantages.unsqueeze(1)) + kl_beta * kl
    mask = mask.float()
    per_sequence = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)
    mean_kl = ((kl * mask).sum() / mask.sum().clamp(min=1)).item()
    return per_sequence.mean(), mean_kl


def prompt_kl(model, reference, tokenizer, texts: list[str]) -> torch.Tensor:
    """KL(base ‖ model) per prompt position, averaged per prompt then over prompts, as the evaluator."""
    tokenizer.padding_side = "right"
    enc = tokenizer(texts, padding=True, return_tensors="pt").to(device())
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    with reference() as ref, autocast():
        base = torch.log_softmax(ref(**inputs).logits.float(), -1)
    with autocast():
        current = torch.log_softmax(model(**inputs).logits.float(), -1)
    kl = (base.exp() * (base - current)).sum(-1)
    mask = enc["attention_mask"].float()
    return ((kl * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def train(model, tokenizer, rows, dataset_type, settings: Settings, deadline: Deadline, seq_len: int):
    rng = random.Random(settings.seed)
    functions = rewards.load(dataset_type)
    print("[grpo] rewards: " + ", ".join(f"{f.reward_id} (weight {f.weight:.3f})" for f in functions), flush=True)
    prompts = build_prompts(rows, dataset_type, tokenizer, seq_len)
    reference = frozen_reference(model)
    has_extra = any(extra is not None for _, extra in prompts)

    total = planned_steps(len(prompts), settings)
    optimizer = Optimizer(model, settings, total)
    progress = Progress("grpo", total)
    mean_rewards: list[float] = []
    model.train()
    for step, chunk in enumerate(batches(prompts, settings, rng), start=1):
        if deadline.passed():
            print(f"[grpo] stopping at step {step - 1}/{total}: the time budget is spent", flush=True)
            break
        texts = [text for text, _ in chunk]
        try:
            sequences, attention, width, mask = sample(model, tokenizer, texts, settings)
        except RuntimeError as error:
            if "probability tensor" not in str(error):
                raise
            # The last step left weights whose next-token probabilities are not finite.
            optimizer.undo("sampling found non-finite probabilities")
            print(f"[grpo] stopping at step {step - 1}/{total}: {optimizer.stopped}", flush=True)
            break
        kept = torch.where(mask.bool(), sequences[:, width:], tokenizer.pad_token_id)
        completions = tokenizer.batch_decode(kept, skip_special_tokens=True)
        repeated = [t for t in texts for _ in range(settings.num_generations)]
        extra = [e for _, e in chunk for _ in range(settings.num_generations)] if has_extra else None
        scores, _ = rewards.weighted(functions, repeated, completions, extra)
        scores_t = torch.tensor(scores, device=device())
        advantages = group_advantages(scores_t, settings.num_generations)

        with reference() as ref:
            ref_logps = completion_token_logps(ref, sequences, attention, width, settings.temperature)
        logps = completion_token_logps(model, sequences, attention, width, settings.temperature)
        loss, kl = policy_loss(logps, ref_logps, advantages, mask, settings.kl_beta)
        if settings.prompt_kl_beta > 0:
            on_prompts = prompt_kl(model, reference, tokenizer, texts)
            loss = loss + settings.prompt_kl_beta * on_prompts
            kl_text = f" kl {kl:.4f} prompt kl {on_prompts.item():.4f}"
        else:
            kl_text = f" kl {kl:.4f}"
        if not optimizer.step(loss):
            print(f"[grpo] stopping at step {step}/{total}: {optimizer.stopped}", flush=True)
            break
        mean_rewards.append(scores_t.mean().item())
        progress.log(step, loss.item(), optimizer.lr(), f" reward {mean_rewards[-1]:.4f}{kl_text}")

    window = max(1, min(10, len(mean_rewards) // 4))
    return {
        **progress.summary(),
        "first_reward": sum(mean_rewards[:window]) / window if mean_rewards else None,
        "last_reward": sum(mean_rewards[-window:]) / window if mean_rewards else None,
    }
