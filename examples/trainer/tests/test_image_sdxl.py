"""The image trainer on a tiny SDXL pipeline, scored by the evaluator (see image_contract.py)."""

from image_contract import TrainerContract

# The random UNet's convolutions and embeddings too: it has to learn denoising from scratch.
UNET_TARGETS = [
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
    "conv1", "conv2", "conv_shortcut", "conv_in", "conv_out", "time_emb_proj", "linear_1", "linear_2",
]  # fmt: skip


class TestSdxlTrainer(TrainerContract):
    model_type = "sdxl"
    fine_tune = {"learning_rate": 1e-2, "max_steps": 200, "batch_size": 8, "target_modules": UNET_TARGETS}
    # The smallest step count at which img2img still starts from the image: 9 of 10 scheduled steps.
    eval_steps = 9
