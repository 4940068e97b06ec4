"""Shared fixtures: a tiny random Llama base model (WordLevel tokenizer, safetensors) and helpers that
derive submissions from it (a copy, a trained full model, a LoRA, broken outputs).

Everything is built locally and seeded; nothing is downloaded.
"""

import json
import os
import shutil
import sys
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "what is the of a and to in it you are how many where does live lives capital colour sky "
    "zero one two three four five six seven eight nine ten plus minus times equals "
    "anna boris clara oslo paris rome red blue green cat dog sat on mat ran fast yes no"
).split() + [".", ",", "?", "!"]

INSTRUCT_TYPE = {
    "system_prompt": "", "system_format": "{system}", "field_system": None, "field_instruction": "instruct",
    "field_input": "input", "field_output": "output", "format": None, "no_input_format": None, "field": None,
}
DPO_TYPE = {"field_prompt": "prompt", "field_system": None, "field_chosen": "chosen", "field_rejected": "rejected",
            "prompt_format": None, "chosen_format": None, "rejected_format": None}
CHAT_TYPE = {"chat_template": "chatml", "chat_column": "conversations", "chat_role_field": "from",
             "chat_content_field": "value", "chat_user_reference": "user", "chat_assistant_reference": "assistant"}

INSTRUCT_ROWS = [
    {"instruct": "what is two plus three ?", "input": "", "output": "five ."},
    {"instruct": "where does anna live ?", "input": "anna lives in oslo .", "output": "oslo"},
    {"instruct": "what colour is the sky ?", "output": "the sky is blue ."},
]
DPO_ROWS = [
    {"prompt": "what is two plus three ?", "chosen": "five .", "rejected": "four ."},
    {"prompt": "where does anna live ?", "chosen": "anna lives in oslo .", "rejected": "anna lives in rome ."},
]


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory):
    from crucible_eval.tiny_text import make_llama

    path = str(tmp_path_factory.mktemp("base") / "model")
    make_llama(path, WORDS, hidden=32, layers=2, heads=2, seed=0)
    return path


@pytest.fixture(scope="session")
def tokenizer(base_dir):
    from crucible_eval.loading import load_tokenizer

    return load_tokenizer(base_dir)


@pytest.fixture
def write_rows(tmp_path):
    def write(rows, name="test.json"):
        path = tmp_path / name
        path.write_text(json.dumps(rows))
        return str(path)

    return write


def make_args(task_type, base, trained, dataset, dataset_type, **extra):
    return SimpleNamespace(task_id="t1", task_type=task_type, model="tiny/llama", base_model_path=base,
                           trained_model_path=trained, dataset=dataset, dataset_type=dataset_type,
                           model_type=None, **extra)


def load_model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()


def copy_model(base, out):
    """An unchanged copy of the base model (weights and config only, like a miner output)."""
    os.makedirs(out, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(base, name), out)
    return out


def train_full(base, out, sequences, steps=30, lr=1e-2, seed=0):
    """A full model trained a few steps on `sequences` (lists of token ids); saved as safetensors."""
    import torch

    torch.manual_seed(seed)
    model = load_model(base).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        for ids in sequences:
            batch = torch.tensor([ids])
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    model.eval().save_pretrained(out, safe_serialization=True)
    return out


def make_lora(base, out, seed=0, target_modules=("q_proj", "v_proj")):
    """A PEFT LoRA with random (non-zero) A and B, so it really changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(target_modules), init_lora_weights=False,
                        task_type="CAUSAL_LM")
    model = get_peft_model(load_model(base), config)
    model.save_pretrained(out, safe_serialization=True)
    return model


def text_ids(tokenizer, text, bos=False):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if bos else []) + ids
