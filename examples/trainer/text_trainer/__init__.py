"""A text trainer for crucible (Gradients-compatible) tournaments: SFT, DPO and GRPO by hand in torch.

Layout:
* `cli`: the standard arguments, input and output paths, dispatch by task type.
* `settings`: hyperparameters from trainer.toml, validated before anything loads.
* `common.clock` (shared with the other trainer): the deadline derived from --hours-to-complete.
* `modelio`: loading the base model (plain or with a LoRA), the frozen reference, saving.
* `formats`: rows to token sequences the way the evaluator reads them.
* `loop`: batching, optimizer and schedule, log-probabilities, progress lines.
* `sft`, `dpo`, `grpo`: one training loop per kind of task.
* `rewards`: the task's reward functions, compiled from their source.
"""
