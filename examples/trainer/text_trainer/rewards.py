"""The task's reward functions, as the evaluator runs them (evaluation.md §2.6).

Each function arrives as Python source in --dataset-type `reward_functions`; it is exec'd in a fresh
namespace and the first callable found there is the function. The evaluator calls it with
`completions` only (plus dataset columns when it takes `extra_data`); functions written for TRL also
take `prompts` and other keyword arguments, so each one gets the keyword arguments its signature
accepts. The task's score weights each function's mean by its normalised `reward_weight`, so
training optimises the same weighted sum.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Callable


class RewardError(ValueError):
    """A reward function is missing, does not compile, or returned something unusable."""


@dataclasses.dataclass
class RewardFunction:
    reward_id: str
    func: Callable
    weight: float
    # None: takes **kwargs, so every keyword is passed.
    accepted: set[str] | None


def load(dataset_type: dict) -> list[RewardFunction]:
    specs = dataset_type.get("reward_functions") or []
    if not specs:
        raise RewardError("--dataset-type has no reward_functions: a GrpoTask needs at least one")
    functions = [_compile(i, spec) for i, spec in enumerate(specs)]
    total = sum(f.weight for f in functions)
    for f in functions:
        # All-zero weights would make every reward vanish; treat them as equal instead.
        f.weight = f.weight / total if total > 0 else 1.0 / len(functions)
    return functions


def _compile(index: int, spec: dict) -> RewardFunction:
    reward_id = str(spec.get("reward_id") or f"reward_functions[{index}]")
    source = spec.get("reward_func")
    if not isinstance(source, str) or not source.strip():
        raise RewardError(f"reward function {reward_id} has no source in `reward_func`")
    namespace: dict = {}
    try:
        exec(source, namespace)  # noqa: S102 - the task ships rewards as source; the evaluator does the same
    except Exception as e:
        raise RewardError(f"reward function {reward_id} does not run: {type(e).__name__}: {e}") from None
    func = next((v for k, v in namespace.items() if not k.startswith("__") and callable(v)), None)
    if func is None:
        raise RewardError(f"reward function {reward_id} defines no callable")
    weight = spec.get("reward_weight", 1.0)
    weight = float(weight) if isinstance(weight, (int, float)) and weight >= 0 else 1.0
    params = inspect.signature(func).parameters.values()
    accepted = None if any(p.kind is p.VAR_KEYWORD for p in params) else {p.name for p in params}
    return RewardFunction(reward_id, func, weight, accepted)


def evaluate(fn: RewardFunction, prompts: list[str], completions: list[str], extra: list | None) -> list[float]:
    kwargs = {"prompts": prompts}
    if extra is not None:
        kwargs["extra_data"] = extra
    if fn.accepted is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in fn.accepted}
    try:
        values = fn.func(completions=completions, **kwargs)
    except Exception as e:
        raise RewardError(f"reward function {fn.reward_id} failed: {type(e).__name__}: {e}") from None
    if not isinstance(values, (list, tuple)) or len(values) != len(completions):
        raise RewardError(f"reward function {fn.reward_id} must return one number per completion")
    # A None or non-finite reward carries no signal; score it 0 rather than poison the batch.
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0 for v in values]


def weighted(functions: list[RewardFunction], prompts, completions, extra=None) -> tuple[list[float], list[float]]:
    """The weighted reward of each completion, and each function's mean raw reward."""
    combined = [0.0] * len(completions)
    means = []
    for fn in functions:
        values = evaluate(fn, prompts, completions, extra)
        means.append(sum(values) / len(values) if values else 0.0)
        combined = [c + fn.weight * v for c, v in zip(combined, values)]
    return combined, means
