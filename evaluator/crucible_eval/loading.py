"""Loading the inputs of a text evaluation: the base model and its tokenizer, the submitted model
(a PEFT LoRA or a full model), and the test rows.

Rules (evaluation.md §2.2, §3 "crucible (offline)"):
* The tokenizer is always the base model's; pad := eos when it has no pad token.
* `adapter_config.json` at the output root means a LoRA. It is applied to the task's base model at
  `--base-model-path`, whatever its `base_model_name_or_path` says, and is always a finetune.
* Otherwise the output is a full model (config.json + *.safetensors); `is_finetune` is decided by
  `finetune_check`.
* Only safetensors are read: pickle checkpoints (.bin/.pt) can execute code when loaded. No remote
  code, no hub access.

Every failure caused by the submitted output raises `SubmissionError` with a message a miner can
act on; a failure of the base model or the test file is the evaluator's (a plain exception).
"""

import json
import math
import os
import struct

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .errors import SubmissionError  # noqa: E402
from .finetune_check import why_not_a_finetune  # noqa: E402

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def device_and_dtype():
    """bf16 on GPU as the reference does; fp32 on CPU, where bf16 is slow and imprecise."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def read_rows(path):
    """The test split: a JSON array of row objects."""
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path}: expected a JSON array of row objects")
    return rows


def text_of(row, column):
    """A row's value as the reference serialises it: str(v), with None and missing as ""."""
    if not column:
        return ""
    value = row.get(column)
    return "" if value is None else str(value)


def load_tokenizer(base_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def count_params(model_dir):
    """Parameter count of a safetensors model, read from the file headers without loading it."""
    total = 0
    for name in sorted(os.listdir(model_dir)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(model_dir, name), "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len))
        for key, info in header.items():
            if key != "__metadata__":
                total += math.prod(info["shape"])
    return total


def _from_pretrained(path, device, dtype):
    from transformers import AutoModelForCausalLM

    kwargs = dict(torch_dtype=dtype, use_safetensors=True, local_files_only=True, trust_remote_code=False)
    if device == "cuda":
        kwargs["device_map"] = "auto"
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model.eval()


def load_base_model(base_path):
    device, dtype = device_and_dtype()
    return _from_pretrained(base_path, device, dtype)


def describe_dir(path, limit=8):
    names = sorted(os.listdir(path))
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return shown or "nothing"


def check_output_dir(path):
    """Which layout the output has: "lora" or "full"; raises on anything unusable."""
    if not os.path.isdir(path):
        raise SubmissionError(f"no model output: {path} does not exist or is not a directory")
    names = set(os.listdir(path))
    if not names:
        raise SubmissionError("the output directory is empty: write the model to the output root")
    if "adapter_config.json" in names:
        if "adapter_model.safetensors" not in names:
            pickled = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
            hint = f" (found {', '.join(pickled)}: pickle checkpoints are refused)" if pickled else ""
            raise SubmissionError(
                f"LoRA output has adapter_config.json but no adapter_model.safetensors{hint}; "
                "save the adapter with safe_serialization=True"
            )
        return "lora"
    safetensors = [n for n in names if n.endswith(".safetensors")]
    if "config.json" in names and safetensors:
        return "full"
    pickled = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickled and not safetensors:
        raise SubmissionError(
            f"only pickle checkpoints found ({', '.join(pickled)}); they are refused because loading them "
            "can run code: save the model with safetensors (save_pretrained(safe_serialization=True))"
        )
    if safetensors:
        raise SubmissionError("the output has *.safetensors but no config.json at its root")
    raise SubmissionError(
        "no model at the output root: expected adapter_config.json + adapter_model.safetensors (LoRA) "
        f"or config.json + *.safetensors (full model); found {describe_dir(path)}"
    )


def _load_lora(base_path, trained_path, device, dtype):
    from peft import PeftModel

    base = _from_pretrained(base_path, device, dtype)
    try:
        model = PeftModel.from_pretrained(base, trained_path, is_trainable=False)
    except Exception as e:
        raise SubmissionError(f"the LoRA adapter does not load onto the task's base model: {_clip(e)}") from e
    _check_adapter_keys(model, trained_path)
    return model.eval()


def _check_adapter_keys(model, trained_path):
    """PEFT only warns when the adapter's tensors match no module; such an adapter would silently
    leave the base model unchanged, so it is refused."""
    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    with safe_open(os.path.join(trained_path, "adapter_model.safetensors"), framework="pt") as f:
        saved = set(f.keys())
    expected = set(get_peft_model_state_dict(model, save_embedding_layers=False).keys())
    if not saved & expected:
        raise SubmissionError(
            "no tensor in adapter_model.safetensors matches the adapter's modules on the task's base model "
            f"(e.g. {sorted(saved)[:1]} vs expected {sorted(expected)[:1]})"
        )


def _load_full(trained_path, device, dtype):
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(trained_path, local_files_only=True, trust_remote_code=False)
    except Exception as e:
        raise SubmissionError(f"config.json is not a usable Hugging Face config: {_clip(e)}") from e
    try:
        return _from_pretrained(trained_path, device, dtype)
    except Exception as e:
        raise SubmissionError(f"the model does not load as a causal language model: {_clip(e)}") from e


def load_trained_model(base_path, trained_path, tokenizer):
    """The submitted model, ready for inference, and why it is not a finetune (None when it is)."""
    from transformers import AutoConfig, set_seed

    # Weights missing from a checkpoint are initialised at random; seeding keeps the score repeatable.
    set_seed(42)
    device, dtype = device_and_dtype()
    layout = check_output_dir(trained_path)
    if layout == "lora":
        model, why_not = _load_lora(base_path, trained_path, device, dtype), None
    else:
        model = _load_full(trained_path, device, dtype)
        base_config = AutoConfig.from_pretrained(base_path, local_files_only=True)
        why_not = why_not_a_finetune(base_path, base_config, trained_path, model.config)
    _check_vocabulary(model, tokenizer)
    _check_finite(model)
    return model, why_not


def finetune_fields(why_not):
    """The result's `is_finetune`, and `not_finetune` saying why when it is false."""
    return {"is_finetune": why_not is None, **({"not_finetune": why_not} if why_not else {})}


def _check_vocabulary(model, tokenizer):
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < len(tokenizer):
        raise SubmissionError(
            f"the model's vocabulary has {rows} tokens but the base tokenizer has {len(tokenizer)}; "
            "evaluation always uses the base model's tokenizer, so keep its vocabulary"
        )


def _check_finite(model):
    import torch

    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise SubmissionError(f"the model has non-finite weights (NaN or inf) in {name}")


class BaseReference:
    """The task's base model next to a submitted one. A LoRA gives it for free by disabling its
    adapter; a full model needs the base loaded alongside (as the reference always does)."""

    def __init__(self, submitted, base_model_path):
        import sys

        # peft is only imported when a LoRA was loaded; a full model needs no peft at all.
        peft = sys.modules.get("peft")
        self.submitted = submitted
        self.is_adapter = peft is not None and isinstance(submitted, peft.PeftModel)
        self.model = None if self.is_adapter else load_base_model(base_model_path)

    def run(self, function, *args):
        """function(base_model, *args)."""
        if self.is_adapter:
            with self.submitted.disable_adapter():
                return function(self.submitted, *args)
        return function(self.model, *args)


def max_positions(model):
    value = getattr(model.config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def input_device(model):
    return model.get_input_embeddings().weight.device


def _clip(error, limit=300):
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + "..."
