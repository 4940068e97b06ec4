"""What SDXL and Flux training share: cached inputs, the LoRA on the denoiser, and saving it.

The VAE latents of the training images and the embeddings of their captions (and of the empty
prompt) are computed once, after which the VAE and the text encoders are freed: only the denoiser
(SDXL's UNet, Flux's transformer) stays loaded, with a peft LoRA on it. Each step then draws fresh
latents from the cached VAE distributions and fresh noise, all from a CPU generator so a seed gives
the same run on any device.

The LoRA is written with the pipeline's own `save_lora_weights`, the diffusers format the evaluator's
`load_lora_weights` reads. That format stores no alpha, so the evaluator applies it at scale
1 = alpha / rank: the LoRA is created with alpha equal to its rank, so what was trained is what is scored.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from .settings import ImageSettings, SettingsError

LORA_FILE = "last.safetensors"


class ModelError(ValueError):
    """The base model is missing or is not a diffusers pipeline of the requested type."""


@dataclasses.dataclass
class Example:
    """One training image as the denoiser sees it."""

    latent_mean: torch.Tensor  # C x h x w, scaled (and shifted) as the pipeline scales latents
    latent_std: torch.Tensor
    prompt: str
    height: int  # pixels
    width: int


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def weight_dtype() -> torch.dtype:
    # bf16 halves the frozen weights on a GPU; the LoRA itself always trains in fp32.
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def free_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class LoraDenoiser:
    """A denoiser with a LoRA and the cached inputs it trains on. Subclasses add the loss and saving."""

    def __init__(self, model: torch.nn.Module, examples: list[Example], prompts: dict, settings: ImageSettings):
        self.model = model
        self.examples = examples
        # prompt text -> the model type's embedding tensors for it (the empty prompt included).
        self.prompts = prompts
        self.settings = settings
        self._add_lora()

    def _add_lora(self) -> None:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        s = self.settings
        self.model.requires_grad_(False)
        config = LoraConfig(
            r=s.rank, lora_alpha=s.rank, init_lora_weights="gaussian", target_modules=list(s.target_modules)
        )
        try:
            self.model.add_adapter(config)
        except ValueError as e:
            targets = list(s.target_modules)
            raise SettingsError(f"[image] `target_modules` {targets} match no layer of this model: {e}") from None
        # peft gives the LoRA the frozen weights' dtype; training it in bf16 would lose small updates.
        cast_training_params(self.model, dtype=torch.float32)
        if s.gradient_checkpointing:
            self.model.enable_gradient_checkpointing()

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.trainable_parameters()]

    def restore(self, saved: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for param, value in zip(self.trainable_parameters(), saved):
                param.copy_(value)

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.trainable_parameters())

    def latents(self, indices: list[int], generator: torch.Generator) -> torch.Tensor:
        """A batch of latents sampled from the cached VAE distributions (same-sized images only)."""
        means = torch.stack([self.examples[i].latent_mean for i in indices])
        stds = torch.stack([self.examples[i].latent_std for i in indices])
        return means + stds * randn(means.shape, generator).to(means.device)

    def batch_prompts(self, indices: list[int], with_caption: list[bool]) -> list[str]:
        return [self.examples[i].prompt if keep else "" for i, keep in zip(indices, with_caption)]

    def loss(self, indices: list[int], with_caption: list[bool], generator: torch.Generator) -> torch.Tensor:
        """Mean training loss of one batch; caption or empty prompt per example."""
        raise NotImplementedError

    def lora_layers(self) -> tuple[dict, str, type]:
        """(LoRA state dict in diffusers naming, `save_lora_weights` keyword for it, pipeline class)."""
        raise NotImplementedError

    def save(self, out_dir: Path) -> Path:
        """Writes `<out_dir>/checkpoints/last.safetensors`; a partial file never carries the final name."""
        folder = out_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        partial = LORA_FILE + ".partial"
        layers, keyword, pipeline_class = self.lora_layers()
        layers = {name: tensor.detach().to("cpu", torch.float32).contiguous() for name, tensor in layers.items()}
        pipeline_class.save_lora_weights(str(folder), weight_name=partial, **{keyword: layers})
        os.replace(folder / partial, folder / LORA_FILE)
        return folder / LORA_FILE


def randn(shape, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def encode_latents(vae, images, shift: float, scale: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, std) of each image's VAE latent, as the pipeline scales it: (z - shift) x scale."""
    vae = vae.to(device(), torch.float32)
    encoded = []
    with torch.no_grad():
        for image in images:
            pixels = torch.from_numpy(image.pixels)[None].to(device())
            dist = vae.encode(pixels).latent_dist
            encoded.append(((dist.mean[0] - shift) * scale, dist.std[0] * scale))
    return encoded


def open_pipeline(base_dir: Path, class_name: str, label: str):
    """The diffusers pipeline `class_name` at `base_dir`, from safetensors only.

    The folder is checked before diffusers is imported, so a wrong folder fails at once.
    """
    check_base(base_dir, class_name)
    import diffusers

    try:
        return getattr(diffusers, class_name).from_pretrained(
            base_dir, torch_dtype=weight_dtype(), use_safetensors=True, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"could not load the {label} pipeline at {base_dir}: {e}") from None


def encode_examples(pipeline, images, shift: float, scale: float, encode_prompt):
    """What training reads instead of the images: each image as an [`Example`] of its latent, and the
    embeddings of every caption and of the empty prompt, `{text: encode_prompt(pipeline, text) as
    float32}`."""
    encoded = encode_latents(pipeline.vae, images, shift=shift, scale=scale)
    pipeline.text_encoder.to(device())
    pipeline.text_encoder_2.to(device())
    prompts = {}
    with torch.no_grad():
        for text in dict.fromkeys(["", *(image.caption for image in images)]):
            prompts[text] = tuple(t.float() for t in encode_prompt(pipeline, text))
    examples = [
        Example(mean, std, image.caption, image.pixels.shape[1], image.pixels.shape[2])
        for image, (mean, std) in zip(images, encoded)
    ]
    return examples, prompts


def check_base(base_dir: Path, expected_class: str) -> None:
    """ModelError unless `base_dir` is a diffusers pipeline folder of `expected_class`."""
    import json

    index = base_dir / "model_index.json"
    if not index.is_file():
        raise ModelError(f"the base model at {base_dir} is not a diffusers pipeline (no model_index.json)")
    try:
        declared = json.loads(index.read_text()).get("_class_name", "")
    except (json.JSONDecodeError, AttributeError) as e:
        raise ModelError(f"{index} is not a valid model index: {e}") from None
    if expected_class.replace("Pipeline", "") not in declared.replace("Img2Img", ""):
        raise ModelError(
            f"the base model at {base_dir} is a {declared}, not a {expected_class}; check --model-type"
        )
