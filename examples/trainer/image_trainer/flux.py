"""Flux: a LoRA on the transformer, trained with the rectified-flow (flow-matching) loss.

As in diffusers' Flux LoRA training: draw sigma uniformly in (0, 1), mix the VAE latent and noise
as (1 - sigma) x latent + sigma x noise, pack 2x2 latent patches into tokens, and regress the
transformer's output onto the velocity noise - latent. Latents are shifted and scaled by the VAE's
shift and scaling factors, as the img2img pipeline does. FLUX.1-dev is guidance-distilled: its
guidance embedding is set to `flux_guidance`, by default the evaluator's FluxGuidance of 100, so
the LoRA learns the condition it is scored under.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .data import TrainImage
from .denoiser import LoraDenoiser, device, encode_examples, free_memory, open_pipeline, weight_dtype
from .settings import ImageSettings

# The VAE's factor of 8 times the 2x2 packing into tokens.
SIZE_MULTIPLE = 16


class FluxDenoiser(LoraDenoiser):
    def __init__(self, transformer, vae_scale_factor, examples, prompts, settings):
        super().__init__(transformer, examples, prompts, settings)
        self.vae_scale_factor = vae_scale_factor

    def loss(self, indices, with_caption, generator):
        from diffusers import FluxPipeline

        latents = self.latents(indices, generator)
        batch, channels, height, width = latents.shape
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        sigmas = torch.rand((batch,), generator=generator).to(latents.device)
        mixed = (1.0 - sigmas[:, None, None, None]) * latents + sigmas[:, None, None, None] * noise
        dtype = weight_dtype()
        packed = FluxPipeline._pack_latents(mixed, batch, channels, height, width).to(dtype)
        image_ids = FluxPipeline._prepare_latent_image_ids(batch, height // 2, width // 2, latents.device, dtype)
        prompts = self.batch_prompts(indices, with_caption)
        hidden = torch.cat([self.prompts[p][0] for p in prompts]).to(dtype)
        pooled = torch.cat([self.prompts[p][1] for p in prompts]).to(dtype)
        text_ids = self.prompts[prompts[0]][2].to(dtype)
        guidance = None
        if self.model.config.guidance_embeds:
            guidance = torch.full((batch,), self.settings.flux_guidance, device=latents.device, dtype=dtype)
        prediction = self.model(
            hidden_states=packed,
            # The pipeline passes timestep / 1000 with timesteps = 1000 x sigma.
            timestep=sigmas.to(dtype),
            guidance=guidance,
            pooled_projections=pooled,
            encoder_hidden_states=hidden,
            txt_ids=text_ids,
            img_ids=image_ids,
            return_dict=False,
        )[0]
        factor = self.vae_scale_factor
        prediction = FluxPipeline._unpack_latents(prediction, height * factor, width * factor, factor)
        return F.mse_loss(prediction.float(), (noise - latents).float())

    def lora_layers(self):
        from diffusers import FluxPipeline
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(self.model), "transformer_lora_layers", FluxPipeline


def load(base_dir: Path, images: list[TrainImage], settings: ImageSettings) -> FluxDenoiser:
    """The transformer with a LoRA, and the cached latents and prompt embeddings of `images`."""
    pipeline = open_pipeline(base_dir, "FluxPipeline", "Flux")
    vae_config = pipeline.vae.config
    tokens = settings.flux_text_tokens

    def encode(pipeline, text):
        return pipeline.encode_prompt(text, prompt_2=None, device=device(), max_sequence_length=tokens)

    examples, prompts = encode_examples(
        pipeline, images, shift=vae_config.shift_factor, scale=vae_config.scaling_factor, encode_prompt=encode
    )
    transformer = pipeline.transformer.to(device())
    vae_scale_factor = pipeline.vae_scale_factor
    del pipeline
    free_memory()
    return FluxDenoiser(transformer, vae_scale_factor, examples, prompts, settings)
