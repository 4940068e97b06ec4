"""InstructTextTask and ChatTask test loss: checked against a hand computation from the logits."""

import pytest
import torch
import torch.nn.functional as F

from conftest import (CHAT_TYPE, INSTRUCT_ROWS, INSTRUCT_TYPE, copy_model, load_model, make_args,
                      text_ids, train_full)
from crucible_eval import chat, instruct


def masked_loss(model, prompt_ids, output_ids):
    """The causal-LM loss of output_ids after prompt_ids, computed directly from the logits."""
    ids = torch.tensor([prompt_ids + output_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    start = len(prompt_ids)
    return F.cross_entropy(logits[start - 1 : -1], ids[0, start:]).item()


def hand_instruct_loss(model, tokenizer):
    """Rows 1-3 of INSTRUCT_ROWS by the spec: BOS + prompt (instruction, or "instruction input"),
    then output + EOS, no separator; mean of per-sample losses."""
    eos = tokenizer.eos_token_id
    samples = [
        (text_ids(tokenizer, "what is two plus three ?", bos=True), text_ids(tokenizer, "five .") + [eos]),
        (text_ids(tokenizer, "where does anna live ? anna lives in oslo .", bos=True), text_ids(tokenizer, "oslo") + [eos]),
        (text_ids(tokenizer, "what colour is the sky ?", bos=True), text_ids(tokenizer, "the sky is blue .") + [eos]),
    ]
    losses = [masked_loss(model, p, o) for p, o in samples]
    return sum(losses) / len(losses)


def test_instruct_loss_matches_a_hand_computation(base_dir, tokenizer, tmp_path, write_rows):
    trained = copy_model(base_dir, str(tmp_path / "out"))
    result = instruct.evaluate(make_args("InstructTextTask", base_dir, trained, write_rows(INSTRUCT_ROWS), INSTRUCT_TYPE))
    expected = hand_instruct_loss(load_model(base_dir), tokenizer)
    assert result["test_loss"] == pytest.approx(expected, abs=1e-5)
    assert result["model_params_count"] == sum(p.numel() for p in load_model(base_dir).parameters())


def test_system_prompt_and_formats_shape_the_prompt():
    dataset_type = dict(INSTRUCT_TYPE, system_prompt="be brief", system_format="{system} :",
                        format="{instruction} , {input}", no_input_format="{instruction} !")
    with_input = {"instruct": "a", "input": "b", "output": "c"}
    without_input = {"instruct": "a", "input": "", "output": "c"}
    assert instruct.instruct_prompt(with_input, dataset_type) == "be brief :a , b"
    assert instruct.instruct_prompt(without_input, dataset_type) == "be brief :a !"
    row_system = dict(dataset_type, field_system="system")
    assert instruct.instruct_prompt({"instruct": "a", "system": "hi"}, row_system) == "hi :a !"


def test_output_gets_eos_and_loses_bos_while_prompt_keeps_bos(tokenizer):
    ids, labels = instruct.instruct_sample({"instruct": "what is two", "output": "five"}, INSTRUCT_TYPE, tokenizer, 64)
    prompt = text_ids(tokenizer, "what is two", bos=True)
    assert ids == prompt + text_ids(tokenizer, "five") + [tokenizer.eos_token_id]
    assert labels == [-100] * len(prompt) + ids[len(prompt):]


def test_long_empty_and_unlabelled_samples_are_dropped(tokenizer):
    rows = [
        {"instruct": "what is two", "output": "five"},  # kept
        {"instruct": " ".join(["two"] * 40), "output": "five"},  # 42 tokens > seq_len 32
        {"instruct": "what is two", "output": ""},  # no labelled token
    ]
    samples = instruct.build_samples(rows, "InstructTextTask", INSTRUCT_TYPE, tokenizer, 32)
    assert len(samples) == 1
    assert instruct.sequence_length(256) == 128 and instruct.sequence_length(8192) == 4096


def chatml_ids(tokenizer, turns):
    """ChatML built piece by piece: <|im_start|> role \\n content <|im_end|> \\n per turn; the
    labels are the assistant contents (this tokenizer's EOS, </s>, never appears in ChatML)."""
    start, end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    ids, labels = [], []
    for role, content in turns:
        head = [start] + text_ids(tokenizer, role)
        body = text_ids(tokenizer, content)
        ids += head + body + [end]
        labels += [-100] * len(head) + (body if role == "assistant" else [-100] * len(body)) + [-100]
    return ids, labels


CHAT_ROWS = [
    {"conversations": [{"from": "user", "value": "what is two plus three ?"}, {"from": "assistant", "value": "five ."},
                       {"from": "user", "value": "and two times three ?"}, {"from": "assistant", "value": "six"}]},
    {"conversations": [{"from": "user", "value": "where does anna live ?"}, {"from": "assistant", "value": "oslo"}]},
    {"conversations": [{"from": "user", "value": "only one message"}]},  # fewer than 2 messages: dropped
]


def test_chat_labels_only_assistant_turns(tokenizer):
    turns = chat.conversation_turns(CHAT_ROWS[0], CHAT_TYPE)
    ids, labels = chat.tokenize_conversation(turns, tokenizer, chat.CHATML_TEMPLATE)
    expected = chatml_ids(tokenizer, [(t["role"], t["content"]) for t in turns])
    assert (ids, labels) == expected


def test_chat_loss_matches_a_hand_computation(base_dir, tokenizer, tmp_path, write_rows):
    trained = copy_model(base_dir, str(tmp_path / "out"))
    result = instruct.evaluate(make_args("ChatTask", base_dir, trained, write_rows(CHAT_ROWS), CHAT_TYPE))
    model = load_model(base_dir)
    losses = []
    for row in CHAT_ROWS[:2]:
        ids, labels = chatml_ids(tokenizer, [(m["from"], m["value"]) for m in row["conversations"]])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        losses.append(F.cross_entropy(logits[:-1], torch.tensor(labels[1:]), ignore_index=-100).item())
    assert result["test_loss"] == pytest.approx(sum(losses) / 2, abs=1e-5)


def test_chat_labels_the_eos_closing_an_assistant_turn(tokenizer):
    template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}"
                "{% if m['role'] == 'assistant' %} {{ eos_token }}{% endif %} ! {% endfor %}")
    turns = [{"role": "user", "content": "two plus three"}, {"role": "assistant", "content": "five"}]
    ids, labels = chat.tokenize_conversation(turns, tokenizer, template)
    eos = tokenizer.eos_token_id
    five = tokenizer.convert_tokens_to_ids("five")
    assert [i for i, label in zip(ids, labels) if label != -100] == [five, eos]


def test_a_model_trained_on_the_rows_scores_lower_than_the_base(base_dir, tokenizer, tmp_path, write_rows):
    dataset = write_rows(INSTRUCT_ROWS)
    samples = instruct.build_samples(INSTRUCT_ROWS, "InstructTextTask", INSTRUCT_TYPE, tokenizer, 128)
    trained = train_full(base_dir, str(tmp_path / "trained"), [ids for ids, _ in samples], steps=15)
    copy = copy_model(base_dir, str(tmp_path / "copy"))
    before = instruct.evaluate(make_args("InstructTextTask", base_dir, copy, dataset, INSTRUCT_TYPE))
    after = instruct.evaluate(make_args("InstructTextTask", base_dir, trained, dataset, INSTRUCT_TYPE))
    assert after["test_loss"] < before["test_loss"] - 0.5
    assert after["is_finetune"] is True
