"""Hyperparameters of the image trainer: the `[image]` table of `trainer.toml`.

The text trainer reads the other tables of the same file; this module reads only `[image]` and its
optional sub-tables `[image.sdxl]` and `[image.flux]`, which override it for one model type. Every
value is typed and checked before a model is loaded, so a bad value stops the run at once with a
message naming the key instead of failing after the pipeline has loaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from common import config
from common.config import SettingsError

MODES = ("lora", "unchanged")
MODEL_TYPES = ("sdxl", "flux")


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    # "lora" trains; "unchanged" writes an all-zero LoRA, so the output scores exactly as the base.
    mode: str = "lora"
    seed: int = 42
    learning_rate: float = 1e-4
    epochs: int = 100
    # Stop after this many optimizer steps even if the epochs are not done (0 = no cap).
    max_steps: int = 1500
    batch_size: int = 4
    warmup_steps: int = 0
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    # LoRA rank; alpha is always equal to it, because a diffusers LoRA file does not store alpha and
    # the evaluator loads it at scale alpha / rank = 1.
    rank: int = 16
    # Module names (or name suffixes) to adapt. These are the attention, projection and feed-forward
    # layers of SDXL's transformer blocks; in Flux they match the attention and some projections.
    target_modules: tuple[str, ...] = (
        "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    )  # fmt: skip
    # Long side of the training images, as the evaluator resizes its test images (1024).
    resolution: int = 1024
    # Share of samples trained with the empty prompt: the evaluator weighs its empty-prompt
    # reconstruction 0.75 and its captioned one 0.25.
    caption_dropout: float = 0.5
    # Flux only: the guidance embedding during training. The evaluator samples with FluxGuidance 100.
    flux_guidance: float = 100.0
    # Flux only: T5 tokens per prompt. The evaluator's pipeline uses 512; fewer trains faster on
    # shorter embeddings than it is scored with.
    flux_text_tokens: int = 512
    # Recompute activations in the backward pass: a third slower, but 1024 px batches fit in memory.
    gradient_checkpointing: bool = True
    # Stop this long before --hours-to-complete runs out (the larger of the two), to leave time to save.
    time_margin_minutes: float = 10.0
    time_margin_fraction: float = 0.1
    # Time budget when --hours-to-complete is 0 (a trial with its own short limit).
    fallback_minutes: float = 20.0


def load(model_type: str, path: Path | None = None) -> ImageSettings:
    """The settings for `model_type`: `[image]`, overridden by `[image.<model_type>]`."""
    if model_type not in MODEL_TYPES:
        raise SettingsError(f"--model-type must be one of {MODEL_TYPES}, got {model_type!r}")
    path, raw = config.read(path)
    table = dict(raw.get("image", {}))
    overrides = {name: table.pop(name) for name in MODEL_TYPES if isinstance(table.get(name), dict)}
    where = f"{path} [image]"
    settings = config.build(ImageSettings(), table, where)
    if model_type in overrides:
        settings = config.build(settings, overrides[model_type], f"{path} [image.{model_type}]")
    _validate(settings, where)
    return settings


def _validate(s: ImageSettings, where: str) -> None:
    config.check([
        (s.mode in MODES, f"`mode` must be one of {MODES}, got {s.mode!r}"),
        (s.learning_rate > 0, "`learning_rate` must be positive"),
        (s.epochs >= 1, "`epochs` must be at least 1"),
        (s.max_steps >= 0, "`max_steps` must be 0 (no cap) or positive"),
        (s.batch_size >= 1, "`batch_size` must be at least 1"),
        (s.warmup_steps >= 0, "`warmup_steps` must not be negative"),
        (s.weight_decay >= 0, "`weight_decay` must not be negative"),
        (s.max_grad_norm > 0, "`max_grad_norm` must be positive"),
        (s.rank >= 1, "`rank` must be at least 1"),
        (s.resolution >= 16 and s.resolution % 16 == 0, "`resolution` must be a multiple of 16, at least 16"),
        (0 <= s.caption_dropout <= 1, "`caption_dropout` must be in [0, 1]"),
        (s.flux_guidance >= 0, "`flux_guidance` must not be negative"),
        (1 <= s.flux_text_tokens <= 512, "`flux_text_tokens` must be in [1, 512]"),
        (s.time_margin_minutes >= 0, "`time_margin_minutes` must not be negative"),
        (0 <= s.time_margin_fraction < 1, "`time_margin_fraction` must be in [0, 1)"),
        (s.fallback_minutes > 0, "`fallback_minutes` must be positive"),
    ], where)
