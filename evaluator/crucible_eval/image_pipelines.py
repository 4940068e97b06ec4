"""diffusers img2img generators that stand in for the reference's ComfyUI workflows (evaluation.md §2.7).

`load_generator` loads the task's base pipeline from its diffusers folder, applies the submitted
LoRA at strength 1.0 and returns `generate(image, prompt, seed) -> HxWx3 uint8`, the callable
image_scoring.py aggregates. Mapping of the reference's settings, and where it cannot be exact:
* SDXL: KSampler dpmpp_sde_gpu + karras, 20 steps, cfg 8, denoise 0.9, empty negative prompt.
  ComfyUI's dpmpp_sde needs torchsde (a Brownian-tree SDE solver), which is not installed; the
  nearest diffusers sampler is DPMSolverMultistepScheduler with algorithm_type "sde-dpmsolver++"
  and Karras sigmas (a multistep SDE solver: same noise schedule, different solver and noise path).
  The empty negative prompt is encoded like any prompt, as ComfyUI does (not zeroed).
* Flux: dpmpp_2m + sgm_uniform, 35 steps, denoise 0.75, FluxGuidance 100, ModelSamplingFlux
  shift 1.15/0.5. FluxGuidance sets the guidance-distilled model's guidance embedding, which is
  diffusers' `guidance_scale` for Flux (no classifier-free guidance in either). The shift is the
  scheduler's resolution-dependent mu between base_shift 0.5 and max_shift 1.15. diffusers' Flux
  pipeline only takes flow-matching schedulers, so the solver is Euler, not DPM++ 2M. The
  reference gives all ten Flux runs one noise seed (18006742449132); here every run uses its own
  seed, like SDXL.
* Denoise: ComfyUI runs `steps` steps over the tail of an int(steps / denoise)-step schedule;
  `img2img_plan` picks diffusers' `num_inference_steps` and `strength` to run the same steps.
* Sizes: ComfyUI keeps any multiple of 8; diffusers would shrink a side to a multiple of the VAE
  factor (x2 for Flux's 2x2 packing), so the image is padded (edge pixels) and the output cropped.
* Output pixels are quantised as ComfyUI saves them: clip(255 x value) truncated to uint8.
"""

import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from crucible_eval.errors import SubmissionError
from crucible_eval.image_data import check_lora_file


@dataclass(frozen=True)
class SamplerSettings:
    """The reference's EVAL_DEFAULTS for one model type."""

    steps: int
    guidance: float
    denoise: float


REFERENCE_SETTINGS = {
    "sdxl": SamplerSettings(steps=20, guidance=8.0, denoise=0.9),
    "flux": SamplerSettings(steps=35, guidance=100.0, denoise=0.75),
}
ADAPTER_NAME = "submission"


def img2img_plan(steps: int, denoise: float) -> tuple[int, int]:
    """(schedule length, steps run) of ComfyUI's denoise: `steps` steps at the end of int(steps/denoise)."""
    total = steps if denoise >= 0.9999 else int(steps / denoise)
    return total, min(steps, total)


def sdxl_strength(total: int, run: int) -> float:
    # SDXL img2img runs int(total x strength) steps; +0.5 keeps the product clear of float truncation.
    return min(1.0, (run + 0.5) / total)


def flux_strength(total: int, run: int) -> float:
    # Flux img2img skips int(total - total x strength) steps; -0.5 keeps that clear of truncation.
    return min(1.0, (run - 0.5) / total) if run < total else 1.0


def pad_to_multiple(image: Image.Image, multiple: int) -> Image.Image:
    """`image` extended right and down by repeating its edge pixels, to sides divisible by `multiple`."""
    width, height = image.size
    new_width, new_height = math.ceil(width / multiple) * multiple, math.ceil(height / multiple) * multiple
    if (new_width, new_height) == (width, height):
        return image
    pixels = np.asarray(image)
    padded = np.pad(pixels, ((0, new_height - height), (0, new_width - width), (0, 0)), mode="edge")
    return Image.fromarray(padded)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 as ComfyUI's SaveImage does; SubmissionError if any is NaN/inf."""
    if not np.all(np.isfinite(pixels)):
        raise SubmissionError("the LoRA makes the model produce NaN/inf pixels (non-finite loss)")
    return np.clip(255.0 * pixels, 0, 255).astype(np.uint8)


def _device_and_dtype(model_type):
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if model_type == "flux" else torch.float16
    return "cpu", torch.float32


def _load_base(model_type, base_model_path, dtype):
    from diffusers import (
        DPMSolverMultistepScheduler,
        FlowMatchEulerDiscreteScheduler,
        FluxImg2ImgPipeline,
        StableDiffusionXLImg2ImgPipeline,
    )

    if model_type == "sdxl":
        pipeline = StableDiffusionXLImg2ImgPipeline.from_pretrained(
            base_model_path, torch_dtype=dtype, use_safetensors=True, local_files_only=True
        )
        pipeline.scheduler = DPMSolverMultistepScheduler.from_config(
            pipeline.scheduler.config, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True
        )
    elif model_type == "flux":
        pipeline = FluxImg2ImgPipeline.from_pretrained(
            base_model_path, torch_dtype=dtype, use_safetensors=True, local_files_only=True
        )
        pipeline.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
            pipeline.scheduler.config,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    else:
        raise ValueError(f"unknown --model-type {model_type!r}: expected sdxl or flux")
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _place(pipeline, device):
    """Move the pipeline to `device`; on a GPU too small to hold it whole, stream components instead."""
    import torch

    if device == "cuda":
        weights = sum(
            p.numel() * p.element_size()
            for component in pipeline.components.values()
            if isinstance(component, torch.nn.Module)
            for p in component.parameters()
        )
        # Activations at 1024 px need headroom beyond the weights (Flux-dev's are about 33 GB in bf16).
        if torch.cuda.get_device_properties(0).total_memory < 1.5 * weights:
            pipeline.enable_model_cpu_offload()
            return
    pipeline.to(device)


def apply_lora(pipeline, lora_path, output_dir):
    """Load the submitted LoRA into `pipeline` at strength 1.0; SubmissionError if it does not fit."""
    check_lora_file(lora_path, output_dir)
    shown = os.path.relpath(lora_path, output_dir)
    try:
        pipeline.load_lora_weights(
            os.path.dirname(lora_path), weight_name=os.path.basename(lora_path), adapter_name=ADAPTER_NAME
        )
    except Exception as error:  # diffusers and peft raise ValueError, KeyError, RuntimeError alike
        raise SubmissionError(
            f"{shown} could not be loaded as a LoRA for this {type(pipeline).__name__} base model "
            f"(expected diffusers/peft or kohya keys): {error}"
        ) from error
    attached = [c for c, names in pipeline.get_list_adapters().items() if ADAPTER_NAME in names]
    if not attached:
        raise SubmissionError(f"{shown} has no LoRA weights that match any layer of the base model")
    pipeline.set_adapters([ADAPTER_NAME], adapter_weights=[1.0])


def load_generator(model_type, base_model_path, lora_path, output_dir, *, steps=None):
    """`generate(image, prompt, seed)` for the base pipeline with the LoRA applied (lora_path None: none).

    `steps` overrides the reference's step count (a CPU test setting); guidance and denoise are fixed.
    """
    import torch

    reference = REFERENCE_SETTINGS.get(model_type)
    if reference is None:
        raise ValueError(f"unknown --model-type {model_type!r}: expected sdxl or flux")
    device, dtype = _device_and_dtype(model_type)
    pipeline = _load_base(model_type, base_model_path, dtype)
    if lora_path is not None:
        apply_lora(pipeline, lora_path, output_dir)
    _place(pipeline, device)
    total, run = img2img_plan(steps or reference.steps, reference.denoise)
    # Flux packs 2x2 latent patches into one token, so its sides must divide by twice the VAE factor.
    multiple = pipeline.vae_scale_factor * (2 if model_type == "flux" else 1)

    def generate(image, prompt, seed):
        padded = pad_to_multiple(image, multiple)
        common = dict(
            prompt=prompt,
            image=padded,
            num_inference_steps=total,
            guidance_scale=reference.guidance,
            # A CPU generator gives the same noise on any device, as ComfyUI's CPU noise does.
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
        )
        with torch.inference_mode():
            if model_type == "sdxl":
                result = pipeline(negative_prompt="", strength=sdxl_strength(total, run), **common)
            else:
                result = pipeline(
                    height=padded.height, width=padded.width, strength=flux_strength(total, run), **common
                )
        pixels = to_uint8(np.asarray(result.images[0]))
        return pixels[: image.height, : image.width]

    generate.pipeline = pipeline
    generate.plan = (total, run)
    return generate
