"""Hyperparameters, read from `trainer.toml` at the repository root.

The file is the only thing variants of this repository change, so every knob the trainer uses lives
here, typed and validated before any model is loaded: a bad value stops the run at once with a
message naming the key, instead of failing an hour into training.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

MODES = ("lora", "full", "unchanged")
TASK_TYPES = ("InstructTextTask", "ChatTask", "DpoTask", "GrpoTask")

# The repository root holds trainer.toml; TRAINER_CONFIG points elsewhere (tests, experiments).
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "trainer.toml"


class SettingsError(ValueError):
    """The hyperparameter file is missing, unreadable or holds a bad value."""


@dataclasses.dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    include_lm_head: bool = True


@dataclasses.dataclass(frozen=True)
class Settings:
    mode: str = "lora"
    seed: int = 42
    learning_rate: float = 3e-3
    epochs: int = 1
    max_steps: int = 0
    batch_size: int = 8
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_seq_len: int = 1024
    gradient_checkpointing: bool = False
    holdout_fraction: float = 0.05
    time_margin_minutes: float = 10.0
    time_margin_fraction: float = 0.1
    fallback_minutes: float = 20.0
    # DPO
    beta: float = 0.1
    # GRPO
    num_generations: int = 4
    max_new_tokens: int = 32
    temperature: float = 0.9
    top_k: int = 50
    kl_beta: float = 0.04
    prompt_kl_beta: float = 0.5
    lora: LoraSettings = dataclasses.field(default_factory=LoraSettings)


def load(task_type: str, path: Path | None = None) -> Settings:
    """Reads the settings for `task_type`: [train], overridden by the table named after the task type."""
    path = Path(path or os.environ.get("TRAINER_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"hyperparameter file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"hyperparameter file {path} is not valid TOML: {e}") from None
    # [image] belongs to the image trainer (image_trainer/settings.py).
    unknown_tables = set(raw) - {"train", "lora", "image", *TASK_TYPES}
    if unknown_tables:
        raise SettingsError(f"{path}: unknown table(s) {sorted(unknown_tables)}")
    merged = {**raw.get("train", {}), **raw.get(task_type, {})}
    lora = _build(LoraSettings, raw.get("lora", {}), f"{path} [lora]")
    settings = _build(Settings, merged, f"{path} [train]/[{task_type}]")
    settings = dataclasses.replace(settings, lora=lora)
    _validate(settings, path)
    return settings


def _build(cls, values: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "lora"}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise SettingsError(f"{where}: unknown key `{key}`")
        default = fields[key].default
        kwargs[key] = _coerce(key, value, default, where)
    return cls(**kwargs)


def _coerce(key: str, value, default, where: str):
    # TOML tells integers from floats; accept an integer where a float is expected (lr = 1).
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif key == "target_modules":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    else:
        ok = isinstance(value, str)
    if not ok:
        raise SettingsError(f"{where}: `{key}` must be like {default!r}, got {value!r}")
    return value


def _validate(s: Settings, path: Path) -> None:
    checks = [
        (s.mode in MODES, f"`mode` must be one of {MODES}, got {s.mode!r}"),
        (s.learning_rate > 0, "`learning_rate` must be positive"),
        (s.epochs >= 1, "`epochs` must be at least 1"),
        (s.max_steps >= 0, "`max_steps` must be 0 (no cap) or positive"),
        (s.batch_size >= 1, "`batch_size` must be at least 1"),
        (0 <= s.warmup_ratio < 1, "`warmup_ratio` must be in [0, 1)"),
        (s.max_seq_len >= 2, "`max_seq_len` must be at least 2"),
        (0 <= s.holdout_fraction < 0.5, "`holdout_fraction` must be in [0, 0.5)"),
        (s.time_margin_minutes >= 0, "`time_margin_minutes` must not be negative"),
        (0 <= s.time_margin_fraction < 1, "`time_margin_fraction` must be in [0, 1)"),
        (s.fallback_minutes > 0, "`fallback_minutes` must be positive"),
        (s.beta > 0, "`beta` must be positive"),
        (s.num_generations >= 2, "`num_generations` must be at least 2 (advantages are relative to the group)"),
        (s.max_new_tokens >= 1, "`max_new_tokens` must be at least 1"),
        (s.temperature > 0, "`temperature` must be positive"),
        (s.kl_beta >= 0, "`kl_beta` must not be negative"),
        (s.prompt_kl_beta >= 0, "`prompt_kl_beta` must not be negative"),
        (s.lora.r >= 1, "[lora] `r` must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise SettingsError(f"{path}: {message}")
