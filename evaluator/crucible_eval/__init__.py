"""crucible's evaluator: scores a trained model the way the public reference (Gradients G.O.D) does.

Run as `python3 -m crucible_eval --task-type ... --base-model-path ... --trained-model-path ...`
(see `__main__` for the contract). Layout of the evaluation itself:
* `__main__`: arguments, dispatch by task type, the output and exit-code protocol.
* `errors`: `SubmissionError`, a failure caused by the submitted output.
* `loading`: base model, tokenizer, the submitted LoRA or full model, `is_finetune`, test rows.
* `instruct` (+ `chat`): InstructTextTask and ChatTask test loss.
* `dpo`: DpoTask loss against the base model.
* `grpo` (+ `reward_sandbox`): GrpoTask rewards, KL, and the sandbox reward functions run in.
* `image`: ImageTask (imported only for image tasks).
* `tiny_text`: tiny random Llama models for tests and the offline test world.
The other modules (image pipelines, content preparation, the tiny world) describe themselves.
"""
