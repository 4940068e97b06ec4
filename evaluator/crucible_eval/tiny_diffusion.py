"""Tiny diffusion pipelines and LoRAs for tests and for the offline test world.

`make_sdxl` and `make_flux` write randomly initialised pipelines in the diffusers folder layout
(model_index.json + one subfolder per component, weights as safetensors) with the same component
classes as the real SDXL base and FLUX.1-dev repositories, so the evaluator's loading code runs
unchanged on them. Both VAEs downsample by 8 like the real ones, so image sizes behave the same.
`write_lora` writes a diffusers-format LoRA for one of them, the format a trainer built on
diffusers' training scripts produces. Nothing here downloads anything.
"""

import os

from crucible_eval import image_tiny_tokenizers as tiny_tokenizers

# Real SDXL: text encoder 1 gives 768-wide states and encoder 2 1280-wide; the UNet attends to
# both concatenated. Here both are 32 wide, so the UNet's cross-attention width is 64.
CLIP_WIDTH = 32
# SDXL's img2img base conditions on six size numbers (original size, crop corner, target size),
# each embedded in `ADDITION_TIME_DIM` dims, plus the pooled text embedding of encoder 2.
ADDITION_TIME_DIM = 8
SDXL_TIME_IDS = 6
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _clip_config(vocab_size, eos_token_id):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=CLIP_WIDTH,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tiny_tokenizers.CLIP_MAX_LENGTH,
        projection_dim=CLIP_WIDTH,
        hidden_act="quick_gelu",
        bos_token_id=eos_token_id - 1,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )


def _vae(*, shift_factor=None, scaling_factor=0.13025, latent_channels=4, quant_convs=True):
    from diffusers import AutoencoderKL

    # Four blocks: three downsamplings, the real models' factor of 8.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 16, 16],
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=latent_channels,
        sample_size=64,
        scaling_factor=scaling_factor,
        shift_factor=shift_factor,
        use_quant_conv=quant_convs,
        use_post_quant_conv=quant_convs,
    )


def count_parameters(pipeline) -> int:
    """Total parameters over the pipeline's torch modules (text encoders, denoiser, VAE)."""
    import torch

    return sum(
        p.numel()
        for component in pipeline.components.values()
        if isinstance(component, torch.nn.Module)
        for p in component.parameters()
    )


def make_sdxl(out_dir, *, seed=0) -> int:
    """Write a tiny StableDiffusionXL pipeline to `out_dir`; returns its parameter count."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = tiny_tokenizers.clip_tokenizer()
    eos = tokenizer.eos_token_id
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_clip_config(len(tokenizer), eos))
    text_encoder_2 = CLIPTextModelWithProjection(_clip_config(len(tokenizer), eos))
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 1),
        cross_attention_dim=2 * CLIP_WIDTH,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=ADDITION_TIME_DIM,
        projection_class_embeddings_input_dim=SDXL_TIME_IDS * ADDITION_TIME_DIM + CLIP_WIDTH,
        norm_num_groups=8,
    )
    vae = _vae()
    # The scheduler the SDXL base repository ships; the evaluator swaps in its own sampler.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tiny_tokenizers.clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
    )
    pipeline.save_pretrained(out_dir, safe_serialization=True)
    return count_parameters(pipeline)


def make_flux(out_dir, *, seed=0) -> int:
    """Write a tiny Flux pipeline (guidance-distilled like FLUX.1-dev) to `out_dir`; returns its parameter count."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    tokenizer = tiny_tokenizers.clip_tokenizer()
    tokenizer_2 = tiny_tokenizers.t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_clip_config(len(tokenizer), tokenizer.eos_token_id))
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            dropout_rate=0.0,
            feed_forward_proj="gated-gelu",
            pad_token_id=tokenizer_2.pad_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
            decoder_start_token_id=tokenizer_2.pad_token_id,
        )
    )
    latent_channels = 4
    transformer = FluxTransformer2DModel(
        patch_size=1,
        # Latents are packed 2x2 into tokens, so a token has 4 x latent_channels features.
        in_channels=4 * latent_channels,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=CLIP_WIDTH,
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    )
    vae = _vae(
        shift_factor=0.1159, scaling_factor=0.3611, latent_channels=latent_channels, quant_convs=False
    )
    # FLUX.1-dev's scheduler configuration: resolution-dependent shift between 0.5 and 1.15.
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    pipeline = FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipeline.save_pretrained(out_dir, safe_serialization=True)
    return count_parameters(pipeline)


def write_lora(pipeline_dir, model_type, out_file, *, rank=4, seed=0, scale=0.05):
    """Write a diffusers-format LoRA for the denoiser of the pipeline at `pipeline_dir`.

    Targets the attention projections of the UNet (sdxl) or transformer (flux), with
    `lora_alpha == rank` so the stored weights apply at strength 1. Every LoRA matrix is drawn from
    N(0, scale^2) with `seed`; `scale=0` gives an all-zero LoRA, which must not change any output.
    Saved with the pipeline's own `save_lora_weights`, as diffusers' training scripts do.
    Returns the path written.
    """
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    if model_type == "sdxl":
        from diffusers import StableDiffusionXLPipeline as Pipeline
        from diffusers import UNet2DConditionModel as Denoiser

        subfolder, layers_arg = "unet", "unet_lora_layers"
    elif model_type == "flux":
        from diffusers import FluxPipeline as Pipeline
        from diffusers import FluxTransformer2DModel as Denoiser

        subfolder, layers_arg = "transformer", "transformer_lora_layers"
    else:
        raise ValueError(f"unknown model_type {model_type!r}: expected 'sdxl' or 'flux'")

    denoiser = Denoiser.from_pretrained(pipeline_dir, subfolder=subfolder, use_safetensors=True)
    denoiser.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True, target_modules=LORA_TARGETS)
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in denoiser.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    layers = get_peft_model_state_dict(denoiser)
    if model_type == "sdxl":
        from diffusers.utils import convert_state_dict_to_diffusers

        layers = convert_state_dict_to_diffusers(layers)
    out_file = os.fspath(out_file)
    os.makedirs(os.path.dirname(out_file) or ".", exist_ok=True)
    Pipeline.save_lora_weights(
        os.path.dirname(out_file) or ".",
        weight_name=os.path.basename(out_file),
        **{layers_arg: layers},
    )
    return out_file
