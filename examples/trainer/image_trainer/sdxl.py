"""SDXL: a LoRA on the UNet, trained with the denoising loss of the base model's noise schedule.

As in diffusers' SDXL LoRA training: noise the VAE latent to a uniformly drawn timestep of the DDPM
schedule built from the pipeline's scheduler configuration, and regress the UNet's prediction onto
the noise (or the velocity, if the model predicts v). The UNet is conditioned exactly as the
evaluator's img2img pipeline conditions it: both text encoders' hidden states, encoder 2's pooled
embedding, and the time ids (original size, crop corner 0,0, target size) of the image itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .data import TrainImage
from .denoiser import LoraDenoiser, device, encode_examples, free_memory, open_pipeline, weight_dtype
from .settings import ImageSettings

# Side lengths must divide by the VAE's factor of 8, as the evaluator crops its test images.
SIZE_MULTIPLE = 8


class SdxlDenoiser(LoraDenoiser):
    def __init__(self, unet, noise_scheduler, examples, prompts, settings):
        super().__init__(unet, examples, prompts, settings)
        self.noise_scheduler = noise_scheduler

    def loss(self, indices, with_caption, generator):
        latents = self.latents(indices, generator)
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        steps = self.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (len(indices),), generator=generator).to(latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        prompts = self.batch_prompts(indices, with_caption)
        hidden = torch.cat([self.prompts[p][0] for p in prompts])
        pooled = torch.cat([self.prompts[p][1] for p in prompts])
        time_ids = torch.tensor(
            [[e.height, e.width, 0, 0, e.height, e.width] for e in (self.examples[i] for i in indices)],
            device=latents.device,
        )
        dtype = weight_dtype()
        prediction = self.model(
            noisy.to(dtype),
            timesteps,
            encoder_hidden_states=hidden.to(dtype),
            added_cond_kwargs={"text_embeds": pooled.to(dtype), "time_ids": time_ids.to(dtype)},
        ).sample
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return F.mse_loss(prediction.float(), target.float())

    def lora_layers(self):
        from diffusers import StableDiffusionXLPipeline
        from peft.utils import get_peft_model_state_dict

        # Kept in peft's naming (lora_A / lora_B), which load_lora_weights reads for every layer type.
        # diffusers' older naming (lora.down / lora.up) covers attention layers only, and a file
        # mixing the two loads the attention LoRA as uninitialised weights.
        return get_peft_model_state_dict(self.model), "unet_lora_layers", StableDiffusionXLPipeline


def load(base_dir: Path, images: list[TrainImage], settings: ImageSettings) -> SdxlDenoiser:
    """The UNet with a LoRA, and the cached latents and prompt embeddings of `images`."""
    pipeline = open_pipeline(base_dir, "StableDiffusionXLPipeline", "SDXL")
    from diffusers import DDPMScheduler

    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    # The SDXL VAE overflows in fp16; encode_examples runs it in fp32.
    examples, prompts = encode_examples(
        pipeline, images, shift=0.0, scale=pipeline.vae.config.scaling_factor, encode_prompt=_encode_prompt
    )
    unet = pipeline.unet.to(device())
    del pipeline
    free_memory()
    return SdxlDenoiser(unet, noise_scheduler, examples, prompts, settings)


def _encode_prompt(pipeline, text):
    # The evaluator encodes the empty prompt like any other (it is not zeroed), so do the same.
    hidden, _, pooled, _ = pipeline.encode_prompt(
        text, device=device(), num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    return hidden, pooled
