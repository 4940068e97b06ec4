"""An example image trainer for crucible tournaments: a LoRA on an SDXL UNet or a Flux transformer.

Layout:
* `cli`: the standard image arguments in, `checkpoints/last.safetensors` in the output folder out.
* `settings`: the `[image]` table of trainer.toml, typed and validated.
* `data`: the training zip (`train_data/<i>.png` + `<i>.txt`), resized as the evaluator resizes.
* `denoiser`: what SDXL and Flux share: cached latents and prompts, the LoRA, saving it.
* `sdxl`, `flux`: loading each pipeline and its training loss (denoising / flow matching).
* `loop`: the optimizer loop, the deadline, a fixed-noise probe loss before and after.
* `common.clock` (shared with the other trainer): the deadline derived from --hours-to-complete.
"""
