"""Hyperparameters, read from `trainer.toml` at the repository root.

The file is the only thing variants of this repository change, so every knob the trainer uses lives
here, typed and validated before any model is loaded: a bad value stops the run at once with a
message naming the key, instead of failing an hour into training.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from common import config
from common.config import SettingsError

MODES = ("lora", "full", "unchanged")
TASK_TYPES = ("InstructTextTask", "ChatTask", "DpoTask", "GrpoTask")


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
    path, raw = config.read(path)
    # [image] belongs to the image trainer (image_trainer/settings.py).
    unknown_tables = set(raw) - {"train", "lora", "image", *TASK_TYPES}
    if unknown_tables:
        raise SettingsError(f"{path}: unknown table(s) {sorted(unknown_tables)}")
    merged = {**raw.get("train", {}), **raw.get(task_type, {})}
    lora = config.build(LoraSettings(), raw.get("lora", {}), f"{path} [lora]", str_or_list=("target_modules",))
    settings = config.build(Settings(), merged, f"{path} [train]/[{task_type}]")
    settings = dataclasses.replace(settings, lora=lora)
    _validate(settings, path)
    return settings


def _validate(s: Settings, path: Path) -> None:
    config.check([
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
    ], path)
