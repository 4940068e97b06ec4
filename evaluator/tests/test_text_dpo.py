"""DpoTask: the DPO loss against the base model, checked against a hand computation."""

import math

import pytest
import torch
import torch.nn.functional as F

from conftest import DPO_ROWS, DPO_TYPE, copy_model, load_model, make_args, make_lora, text_ids
from crucible_eval import dpo


def summed_logp(model, prompt_ids, completion_ids):
    """Sum of log p(completion token | everything before it), from the logits directly."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].log_softmax(-1)
    start = len(prompt_ids)
    return sum(logp[t - 1, ids[0, t]].item() for t in range(start, ids.shape[1]))


def hand_dpo_loss(policy, reference, tokenizer, rows):
    """No special tokens, EOS after each completion, β 0.1, mean over rows."""
    eos = tokenizer.eos_token_id
    losses = []
    for row in rows:
        p = text_ids(tokenizer, row["prompt"])
        c, r = text_ids(tokenizer, row["chosen"]) + [eos], text_ids(tokenizer, row["rejected"]) + [eos]
        margin = (summed_logp(policy, p, c) - summed_logp(reference, p, c)) - (
            summed_logp(policy, p, r) - summed_logp(reference, p, r))
        losses.append(-F.logsigmoid(torch.tensor(0.1 * margin, dtype=torch.float64)).item())
    return sum(losses) / len(losses)


def test_dpo_loss_of_a_lora_matches_a_hand_computation(base_dir, tokenizer, tmp_path, write_rows):
    lora_dir = str(tmp_path / "lora")
    policy = make_lora(base_dir, lora_dir, seed=3).merge_and_unload().eval()
    result = dpo.evaluate(make_args("DpoTask", base_dir, lora_dir, write_rows(DPO_ROWS), DPO_TYPE))
    expected = hand_dpo_loss(policy, load_model(base_dir), tokenizer, DPO_ROWS)
    assert abs(expected - math.log(2)) > 1e-4  # the adapter moved the margin
    assert result["test_loss"] == pytest.approx(expected, abs=1e-5)
    assert result["is_finetune"] is True


def test_the_unchanged_base_scores_ln2_and_is_not_a_finetune(base_dir, tmp_path, write_rows):
    copy = copy_model(base_dir, str(tmp_path / "copy"))
    result = dpo.evaluate(make_args("DpoTask", base_dir, copy, write_rows(DPO_ROWS), DPO_TYPE))
    assert result["test_loss"] == pytest.approx(math.log(2), abs=1e-9)
    assert result["is_finetune"] is False


def test_training_towards_chosen_lowers_the_loss(base_dir, tokenizer, tmp_path, write_rows):
    torch.manual_seed(0)
    policy, reference = load_model(base_dir).train(), load_model(base_dir)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=5e-3)
    rows = [dpo.tokenize_row(tokenizer, r["prompt"], r["chosen"], r["rejected"]) for r in DPO_ROWS]
    for _ in range(10):
        for p, c, r in rows:
            margin = 0.0
            for completion, sign in ((c, 1.0), (r, -1.0)):
                ids = torch.tensor([p + completion])
                logp = policy(input_ids=ids).logits[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None])[:, 0]
                with torch.no_grad():
                    ref = reference(input_ids=ids).logits[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None])[:, 0]
                margin = margin + sign * (logp[len(p) - 1 :].sum() - ref[len(p) - 1 :].sum())
            loss = -F.logsigmoid(0.1 * margin)
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    trained = str(tmp_path / "trained")
    policy.eval().save_pretrained(trained, safe_serialization=True)
    result = dpo.evaluate(make_args("DpoTask", base_dir, trained, write_rows(DPO_ROWS), DPO_TYPE))
    assert result["test_loss"] < math.log(2) - 0.05


def test_long_rows_keep_the_last_512_prompt_and_the_last_1024_batch_columns(base_dir, tokenizer):
    model = load_model(base_dir)
    words = tokenizer.convert_tokens_to_ids(["one", "two", "three", "four", "five"])
    prompt_text = " ".join(tokenizer.convert_ids_to_tokens([words[i % 5] for i in range(600)]))
    chosen_text = " ".join(tokenizer.convert_ids_to_tokens([words[i % 3] for i in range(519)]))
    p, c, r = dpo.tokenize_row(tokenizer, prompt_text, chosen_text, "four five")
    assert len(p) == 512 and p == text_ids(tokenizer, prompt_text)[-512:]
    # Rows are 1032 and 515 tokens; the right-padded batch loses its first 8 columns in both rows.
    cut = len(p) + len(c) - 1024
    assert cut == 8
    got = dpo.completion_logps(model, p, c, r, tokenizer.pad_token_id)
    expected = [summed_logp(model, p[cut:], c), summed_logp(model, p[cut:], r)]
    assert got == pytest.approx(expected, abs=1e-3)
