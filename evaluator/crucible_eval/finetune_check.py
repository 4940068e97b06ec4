"""Whether a full-model output counts as a finetune of the task's base model.

* The reference's check (evaluation.md §2.2, `model_is_a_finetune`): the `architectures` lists are
  equal and every attribute of ARCHITECTURE_ATTRIBUTES that is set in the base config has the same
  value in the trained config.
* The offline counterpart of the reference's "a repo equal to the task's model id is not a
  finetune": an output whose tensors are exactly the base model's (same names, dtypes, values) is an
  unchanged copy, hence not a finetune either.
A LoRA output is always a finetune; these checks are for full models only.
"""

import os

ARCHITECTURE_ATTRIBUTES = [
    "architectures", "hidden_size", "n_layer", "intermediate_size", "head_dim", "hidden_act",
    "model_type", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
]


def is_a_finetune(base_config, trained_config):
    """The reference's config-equality check."""
    return config_mismatch(base_config, trained_config) is None


def config_mismatch(base_config, trained_config):
    """Why the trained config fails the reference's check (the first difference), or None."""
    trained, base = getattr(trained_config, "architectures", None), getattr(base_config, "architectures", None)
    if trained != base:
        return f"its architectures {trained} differ from the base model's {base}"
    for attr in ARCHITECTURE_ATTRIBUTES:
        expected = getattr(base_config, attr, None)
        if expected is None:
            continue
        if not hasattr(trained_config, attr):
            return f"its config has no {attr} (the base model's is {expected!r})"
        if getattr(trained_config, attr) != expected:
            return f"its {attr} {getattr(trained_config, attr)!r} differs from the base model's {expected!r}"
    return None


def why_not_a_finetune(base_dir, base_config, trained_dir, trained_config):
    """Why a full-model output does not count as a finetune of the base, or None when it does."""
    mismatch = config_mismatch(base_config, trained_config)
    if mismatch:
        return mismatch
    if is_unchanged_copy(base_dir, trained_dir):
        return "it is the base model unchanged (every tensor equal)"
    return None


def is_unchanged_copy(base_dir, trained_dir):
    """True iff both safetensors models hold the same tensors; compares one tensor pair at a time."""
    from contextlib import ExitStack

    import torch
    from safetensors import safe_open

    base, trained = _tensor_files(base_dir), _tensor_files(trained_dir)
    if not base or set(base) != set(trained):
        return False
    with ExitStack() as stack:
        handles = {}

        def handle(path):
            if path not in handles:
                handles[path] = stack.enter_context(safe_open(path, framework="pt"))
            return handles[path]

        for name, base_file in base.items():
            expected, actual = handle(base_file).get_tensor(name), handle(trained[name]).get_tensor(name)
            if expected.dtype != actual.dtype or expected.shape != actual.shape:
                return False
            if not torch.equal(expected, actual):
                return False
    return True


def _tensor_files(model_dir):
    """{tensor name: the safetensors file holding it}."""
    from safetensors import safe_open

    files = {}
    for file_name in sorted(os.listdir(model_dir)):
        if file_name.endswith(".safetensors"):
            path = os.path.join(model_dir, file_name)
            with safe_open(path, framework="pt") as f:
                for name in f.keys():
                    files[name] = path
    return files
