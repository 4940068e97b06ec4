"""Independent measurements of a trained output, written plainly so they do not share the trainer's code.

They follow what the evaluator measures (evaluation.md §2.4-2.6) closely enough to compare a trained
model with its base: masked output cross-entropy per sample, the DPO preference margin, the mean
reward of sampled completions, and the KL divergence from the base on the prompts.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer


def load_output(out_dir: Path, base_dir: Path):
    """The trained model as the evaluator loads it: a LoRA on the base, or a full model."""
    if (out_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True)
        return PeftModel.from_pretrained(base, out_dir, local_files_only=True).eval()
    assert (out_dir / "config.json").is_file(), f"no model in {out_dir}: {sorted(p.name for p in out_dir.iterdir())}"
    return AutoModelForCausalLM.from_pretrained(out_dir, local_files_only=True, use_safetensors=True).eval()


def load_base(base_dir: Path):
    return AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True).eval()


def tokenizer(base_dir: Path):
    tok = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    tok.pad_token = tok.pad_token or tok.eos_token
    return tok


def _sequence_logp(model, ids: list[int], start: int) -> torch.Tensor:
    """Log-probabilities of ids[start:] given what precedes each of them."""
    x = torch.tensor([ids])
    logits = model(input_ids=x).logits[0, :-1]
    logps = F.log_softmax(logits.float(), -1).gather(1, x[0, 1:].unsqueeze(1)).squeeze(1)
    return logps[start - 1 :]


@torch.no_grad()
def instruct_loss(model, tok, rows: list[dict]) -> float:
    """Mean over rows of the mean output-token cross-entropy (prompt with BOS, output + EOS)."""
    losses = []
    for row in rows:
        prompt = row["instruct"] + (" " + row["input"] if row.get("input") else "")
        p = tok(prompt)["input_ids"]
        o = tok(row["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        losses.append(-_sequence_logp(model, p + o, len(p)).mean().item())
    return sum(losses) / len(losses)


@torch.no_grad()
def chat_loss(model, tok, rows: list[dict]) -> float:
    """Mean over rows of the mean cross-entropy of assistant contents in a chatml rendering."""
    losses = []
    for row in rows:
        ids, scored = [], []
        for m in row["conversations"]:
            head = tok(f"<|im_start|>{m['from']}\n", add_special_tokens=False)["input_ids"]
            body = tok(m["value"], add_special_tokens=False)["input_ids"]
            tail = tok("<|im_end|>\n", add_special_tokens=False)["input_ids"]
            ids += head
            if m["from"] == "assistant":
                scored += range(len(ids), len(ids) + len(body))
            ids += body + tail
        logps = _sequence_logp(model, ids, 1)
        losses.append(-torch.stack([logps[i - 1] for i in scored]).mean().item())
    return sum(losses) / len(losses)


@torch.no_grad()
def dpo_margin(model, reference, tok, rows: list[dict]) -> float:
    """Mean of (logπ(c) − logπref(c)) − (logπ(r) − logπref(r)); 0 for the base model itself."""
    total = 0.0
    for row in rows:
        p = tok(row["prompt"], add_special_tokens=False)["input_ids"]
        side = {}
        for key in ("chosen", "rejected"):
            ids = p + tok(row[key], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            side[key] = (_sequence_logp(model, ids, len(p)).sum() - _sequence_logp(reference, ids, len(p)).sum()).item()
        total += side["chosen"] - side["rejected"]
    return total / len(rows)


def dpo_loss(margin_per_row: float, beta: float = 0.1) -> float:
    return -F.logsigmoid(torch.tensor(beta * margin_per_row)).item()


@torch.no_grad()
def mean_reward(model, tok, prompts: list[str], reward, samples: int = 4, max_new_tokens: int = 32, seed: int = 7) -> float:
    """Mean reward of `samples` sampled completions per prompt (temperature 0.9, as the evaluator)."""
    torch.manual_seed(seed)
    values = []
    for prompt in prompts:
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
        out = model.generate(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], do_sample=True, temperature=0.9,
            top_k=50, max_new_tokens=max_new_tokens, num_return_sequences=samples, pad_token_id=tok.pad_token_id,
        )
        completions = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        values += reward(completions)
    return sum(values) / len(values)


@torch.no_grad()
def prompt_kl(base, model, tok, prompts: list[str]) -> float:
    """KL(base ‖ model) per position on the prompts (default special tokens), averaged per prompt."""
    total = 0.0
    for prompt in prompts:
        x = tok(prompt, return_tensors="pt")["input_ids"]
        lb = F.log_softmax(base(input_ids=x).logits.float(), -1)
        lm = F.log_softmax(model(input_ids=x).logits.float(), -1)
        total += (lb.exp() * (lb - lm)).sum(-1).mean().item()
    return total / len(prompts)


def read_summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])
