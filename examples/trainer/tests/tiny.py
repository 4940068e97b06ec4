"""A tiny Llama and small standardised datasets, for tests and for trying the image.

Everything is made here, seeded, in seconds: a word-level tokenizer over a few dozen words, a
randomly initialised 2-layer Llama, and train/test rows in the four standardised formats the trainer
receives (evaluation.md §1.3). As a script it lays out a /cache-like folder:
  python3 tests/tiny.py CACHE_DIR TASK_ID TASK_TYPE
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
WORDS = ["repeat", "reverse", "say", "yes", "no", "good", "bad", "user", "assistant", "system", "."]
WORDS += [f"w{i}" for i in range(30)]
MODEL_ID = "tiny/llama"

INSTRUCT_TYPE = {
    "system_prompt": "", "system_format": "{system}", "field_system": None, "field_instruction": "instruct",
    "field_input": "input", "field_output": "output", "format": None, "no_input_format": None, "field": None,
}
CHAT_TYPE = {
    "chat_template": "chatml", "chat_column": "conversations", "chat_role_field": "from",
    "chat_content_field": "value", "chat_user_reference": "user", "chat_assistant_reference": "assistant",
}
DPO_TYPE = {
    "field_prompt": "prompt", "field_system": None, "field_chosen": "chosen", "field_rejected": "rejected",
    "prompt_format": None, "chosen_format": None, "rejected_format": None,
}


def grpo_type(reward_sources: list[str], weights: list[float] | None = None) -> dict:
    weights = weights or [1.0] * len(reward_sources)
    return {
        "field_prompt": "prompt", "extra_column": None,
        "reward_functions": [
            {"reward_id": f"r{i}", "reward_func": src, "reward_weight": w, "func_hash": f"h{i}",
             "is_generic": True, "is_manual": True}
            for i, (src, w) in enumerate(zip(reward_sources, weights))
        ],
    }


def make_model(path: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Like Llama's tokenizer: a BOS in front of every encoded text.
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def _words(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(30)}" for _ in range(n)]


def instruct_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = _words(rng, rng.randint(2, 5))
        if rng.random() < 0.5:
            rows.append({"instruct": "repeat " + " ".join(words), "output": " ".join(words)})
        else:
            rows.append({"instruct": "reverse", "input": " ".join(words), "output": " ".join(reversed(words))})
    return rows


def chat_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        turns = []
        for _ in range(rng.randint(1, 2)):
            words = _words(rng, rng.randint(2, 4))
            turns.append({"from": "user", "value": "repeat " + " ".join(words)})
            turns.append({"from": "assistant", "value": " ".join(words) + " ."})
        rows.append({"conversations": turns})
    return rows


def dpo_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = _words(rng, rng.randint(2, 4))
        rows.append({
            "prompt": "say " + " ".join(words),
            "chosen": "good " + " ".join(words),
            "rejected": "bad " + " ".join(reversed(words)),
        })
    return rows


def grpo_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"prompt": "say " + " ".join(_words(rng, rng.randint(1, 4)))} for _ in range(n)]


# Rewards the base model scores poorly on: the share of "yes" among the words of a completion.
YES_REWARD = '''def reward_yes(completions, **kwargs):
    return [c.split().count("yes") / max(1, len(c.split())) for c in completions]
'''

ROWS = {"InstructTextTask": instruct_rows, "ChatTask": chat_rows, "DpoTask": dpo_rows, "GrpoTask": grpo_rows}
TYPES = {"InstructTextTask": INSTRUCT_TYPE, "ChatTask": CHAT_TYPE, "DpoTask": DPO_TYPE, "GrpoTask": grpo_type([YES_REWARD])}


def lay_out_cache(cache: Path, task_id: str, task_type: str, n_rows: int = 400) -> dict:
    """A /cache-like folder: models/tiny--llama and datasets/<task_id>_train_data.json."""
    make_model(cache / "models" / MODEL_ID.replace("/", "--"))
    datasets = cache / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    (datasets / f"{task_id}_train_data.json").write_text(json.dumps(ROWS[task_type](n_rows, seed=1)))
    return TYPES[task_type]


if __name__ == "__main__":
    cache_dir, task, kind = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    print(json.dumps(lay_out_cache(cache_dir, task, kind)))
