"""DPO: the sigmoid loss against the frozen base moves held-out preferences towards the chosen side."""

import math

import measure
import tiny
import torch

from text_trainer import dpo


def test_dpo_raises_the_chosen_minus_rejected_margin_on_held_out_rows(run_trainer, base_dir):
    summary, out = run_trainer("DpoTask", tiny.dpo_rows(300, seed=1), tiny.DPO_TYPE)

    assert (out / "adapter_model.safetensors").is_file()
    assert summary["last_loss"] < summary["first_loss"]
    tok, test = measure.tokenizer(base_dir), tiny.dpo_rows(40, seed=2)
    base, trained = measure.load_base(base_dir), measure.load_output(out, base_dir)
    assert abs(measure.dpo_margin(base, base, tok, test)) < 1e-4
    margin = measure.dpo_margin(trained, base, tok, test)
    print(f"held-out margin {margin:.3f}, DPO loss about {measure.dpo_loss(margin):.4f}")
    assert margin > 2.0
    assert measure.dpo_loss(margin) < math.log(2) - 0.1


def test_a_model_equal_to_its_reference_scores_ln_2():
    logps = torch.tensor([-3.0, -5.0, -4.0, -2.0])  # chosen, chosen, rejected, rejected
    logits = dpo.preference_logits(logps, logps.clone())
    assert torch.allclose(dpo.dpo_loss(logits, beta=0.1), torch.tensor(math.log(2)))


def test_preferring_the_chosen_side_lowers_the_loss():
    reference = torch.tensor([-3.0, -4.0])
    policy = torch.tensor([-2.0, -5.0])  # chosen up by 1, rejected down by 1
    logits = dpo.preference_logits(policy, reference)
    assert logits.item() == 2.0
    assert dpo.dpo_loss(logits, beta=0.1) < math.log(2)
