"""Loading the base model and writing the trained one.

The evaluator accepts two layouts at the output root (evaluation.md §2.2): a PEFT LoRA
(`adapter_config.json` + `adapter_model.safetensors`), always applied to the task's base model, or a
full model (`config.json` + `*.safetensors`) whose architecture matches the base. Only safetensors
are written, and nothing is ever fetched from a hub: the base model is the folder under /cache.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .settings import Settings


class ModelError(RuntimeError):
    """The base model folder cannot be used."""


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(base_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    # The evaluator pads with EOS when the tokenizer has no pad token; do the same, never add tokens
    # (a resized vocabulary would no longer fit the base model the evaluator loads).
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base_dir: Path, settings: Settings):
    """The model to train: the base model, wrapped in a fresh LoRA adapter in `lora` mode."""
    if not (base_dir / "config.json").is_file():
        raise ModelError(f"no config.json in the base model folder {base_dir}")
    dev = device()
    # A LoRA trains small fp32 adapters, so the frozen base may sit in bf16 on a GPU. Full training
    # keeps fp32 master weights and gets its speed from autocast instead.
    use_bf16 = dev.type == "cuda" and settings.mode == "lora" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if use_bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        base_dir, torch_dtype=dtype, local_files_only=True, use_safetensors=True, trust_remote_code=False
    )
    model.to(dev)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if settings.mode == "lora":
        model = _wrap_lora(model, settings)
    return model


def _wrap_lora(model, settings: Settings):
    from peft import LoraConfig, get_peft_model

    if settings.gradient_checkpointing:
        model.enable_input_require_grads()
    config = LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=_lora_targets(model, settings),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    model.print_trainable_parameters()
    return model


def _lora_targets(model, settings: Settings):
    targets = settings.lora.target_modules
    if targets != "all-linear" or not settings.lora.include_lm_head:
        return targets
    if getattr(model.config, "tie_word_embeddings", False):
        # The output layer shares its weight with the input embeddings: an adapter on it would change
        # both once merged, so an evaluator that merges would score a different model.
        print("[trainer] lm_head is tied to the embeddings; adapting the other linear layers only", flush=True)
        return targets
    # PEFT's "all-linear" leaves out the output layer. Adapting it too lets the adapter sharpen or
    # move the output distribution directly, which matters most on small models.
    from transformers.pytorch_utils import Conv1D

    return sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, (torch.nn.Linear, Conv1D))}
    )


def frozen_reference(model):
    """The base model as a reference for DPO and GRPO's KL penalty.

    With a LoRA the base is the same network with the adapter switched off, so no second copy is
    held in memory; a fully trained model needs a frozen copy taken before the first step.
    """
    if hasattr(model, "disable_adapter"):
        return _AdapterOff(model)
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return _Frozen(ref)


class _AdapterOff:
    def __init__(self, model):
        self.model = model

    @contextlib.contextmanager
    def __call__(self):
        with torch.no_grad(), self.model.disable_adapter():
            yield self.model


class _Frozen:
    def __init__(self, model):
        self.model = model

    @contextlib.contextmanager
    def __call__(self):
        with torch.no_grad():
            yield self.model


def autocast():
    """bf16 autocast on a GPU (the evaluator runs bf16 too); plain fp32 on a CPU."""
    dev = device()
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def save(model, tokenizer, out_dir: Path, model_id: str, base_dir: Path) -> None:
    """Writes the trained model (adapter or full) in safetensors to the output root."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not hasattr(model, "peft_config"):
        # Full training ran in fp32; write the weights in the base's own precision so the output is
        # no larger than the base (the evaluator runs bf16 anyway).
        base_dtype = json.loads((base_dir / "config.json").read_text()).get("torch_dtype")
        if base_dtype in ("bfloat16", "float16"):
            model.to(getattr(torch, base_dtype))
    if hasattr(model, "peft_config"):
        # The evaluator applies the adapter to the task's base whatever this says; naming the task's
        # model id keeps the file truthful (the reference's uploader rewrites it the same way).
        for config in model.peft_config.values():
            config.base_model_name_or_path = model_id
    if hasattr(model, "peft_config"):
        # "auto" would look the base model up on the hub to see whether embeddings changed; they never
        # do here (no tokens are added), and there is no network.
        model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)
    else:
        model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def copy_unchanged(base_dir: Path, out_dir: Path) -> list[str]:
    """Copies the base model's files as they are: a full model equal to the base."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(base_dir.iterdir()):
        # Pickled weights are never part of an output the evaluator may load.
        if path.is_file() and path.suffix not in (".bin", ".pt", ".pth", ".ckpt"):
            shutil.copyfile(path, out_dir / path.name)
            copied.append(path.name)
    if not any(name.endswith(".safetensors") for name in copied):
        raise ModelError(f"the base model folder {base_dir} holds no .safetensors weights to copy")
    return copied
