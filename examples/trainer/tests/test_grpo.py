"""GRPO: sampling, task reward functions, group-relative advantages, a KL penalty to the base."""

import measure
import tiny
import torch

from text_trainer import grpo


def yes_share(completions):
    return [c.split().count("yes") / max(1, len(c.split())) for c in completions]


def test_grpo_raises_the_mean_reward_of_held_out_prompts(run_trainer, base_dir):
    rows = tiny.grpo_rows(400, seed=1)
    # Fewer, shorter samples than the defaults keep the test quick; the image smoke run uses the defaults.
    fast = {"GrpoTask": {"max_steps": 25, "max_new_tokens": 16, "learning_rate": 5e-3}}
    summary, out = run_trainer("GrpoTask", rows, tiny.grpo_type([tiny.YES_REWARD]), fast)

    assert (out / "adapter_model.safetensors").is_file()
    tok = measure.tokenizer(base_dir)
    prompts = [r["prompt"] for r in tiny.grpo_rows(12, seed=99)]
    base, trained = measure.load_base(base_dir), measure.load_output(out, base_dir)
    before = measure.mean_reward(base, tok, prompts, yes_share)
    after = measure.mean_reward(trained, tok, prompts, yes_share)
    kl = measure.prompt_kl(base, trained, tok, prompts)
    print(f"reward {before:.3f} -> {after:.3f}, prompt KL {kl:.3f}, summary {summary}")
    assert summary["last_reward"] > summary["first_reward"] + 0.2
    assert after > before + 0.2
    # The prompt-KL term keeps the evaluator's 0.5·KL penalty negligible.
    assert kl < 0.1


def test_a_diverging_grpo_run_still_saves_finite_weights(run_trainer, base_dir):
    # At learning rate 10 the policy's probabilities go non-finite within a few steps; the trainer
    # undoes the step that broke them and saves the weights before it, so the evaluator scores a loser
    # instead of the validator recording a crashed run.
    wild = {"GrpoTask": {"max_steps": 30, "max_new_tokens": 16, "learning_rate": 10.0}}
    summary, out = run_trainer("GrpoTask", tiny.grpo_rows(200, seed=1), tiny.grpo_type([tiny.YES_REWARD]), wild)

    from safetensors.torch import load_file

    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all(torch.isfinite(w).all() for w in weights.values())
    print(f"summary {summary}")


def test_group_advantages_compare_completions_of_the_same_prompt_only():
    scores = torch.tensor([1.0, 3.0, 10.0, 10.0])
    advantages = grpo.group_advantages(scores, group=2)
    assert advantages[0] < 0 < advantages[1]
    # A group whose completions all score alike teaches nothing, however high the score.
    assert advantages[2:].abs().max() < 1e-6


def test_policy_loss_pushes_up_completions_with_a_positive_advantage():
    logps = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    loss, kl = grpo.policy_loss(logps, logps.detach(), torch.tensor([1.0, -1.0]), mask, kl_beta=0.1)
    loss.backward()
    assert kl == 0.0
    assert (logps.grad[0, :2] < 0).all() and (logps.grad[1] > 0).all()
    assert logps.grad[0, 2] == 0  # padding past the EOS carries no gradient
