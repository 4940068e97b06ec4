"""The image trainer on a tiny Flux pipeline, scored by the evaluator (see image_contract.py)."""

from image_contract import TrainerContract

# Every linear layer of the random transformer: it has to learn denoising from scratch.
TRANSFORMER_TARGETS = [
    "to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
    "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2", "proj_mlp", "proj_out",
    "linear", "linear_1", "linear_2", "x_embedder", "context_embedder",
]  # fmt: skip


class TestFluxTrainer(TrainerContract):
    model_type = "flux"
    fine_tune = {
        "learning_rate": 1e-2,
        "max_steps": 100,
        "batch_size": 4,
        "target_modules": TRANSFORMER_TARGETS,
        # The evaluator encodes 512 T5 tokens; on CPU that dominates a tiny model's step, and the
        # tiny captions fit in 32.
        "flux_text_tokens": 32,
    }
    # img2img at denoise 0.75 runs 3 of 4 scheduled steps.
    eval_steps = 3
