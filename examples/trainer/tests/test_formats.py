"""Rows become the token sequences the evaluator scores (evaluation.md §2.4, §2.5)."""

import pytest

import tiny
from text_trainer import formats

IGNORE = formats.IGNORE


@pytest.fixture(scope="module")
def tok(base_dir):
    from text_trainer.modelio import load_tokenizer

    return load_tokenizer(base_dir)


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_instruct_prompt_follows_the_format_rules():
    dataset_type = dict(tiny.INSTRUCT_TYPE)
    assert formats.instruct_prompt({"instruct": "say", "input": "w1"}, dataset_type) == "say w1"
    assert formats.instruct_prompt({"instruct": "say", "input": ""}, dataset_type) == "say"
    dataset_type |= {"format": "{instruction}: {input}", "no_input_format": "only {instruction}"}
    assert formats.instruct_prompt({"instruct": "say", "input": "w1"}, dataset_type) == "say: w1"
    assert formats.instruct_prompt({"instruct": "say"}, dataset_type) == "only say"
    # system_prompt through system_format, with no separator; a mapped system column wins.
    dataset_type |= {"system_prompt": "yes ", "system_format": "system {system} "}
    assert formats.instruct_prompt({"instruct": "say", "system": "no"}, dataset_type) == "system yes  only say"
    dataset_type |= {"field_system": "system"}
    assert formats.instruct_prompt({"instruct": "say", "system": "no"}, dataset_type) == "system no only say"
    assert formats.instruct_prompt({"instruct": "say"}, dataset_type) == "only say"


def test_instruct_sample_masks_the_prompt_and_ends_the_output_with_eos(tok):
    sample = formats.instruct_sample({"instruct": "repeat w1", "output": "w1"}, tiny.INSTRUCT_TYPE, tok, 64)
    prompt = [tok.bos_token_id] + ids(tok, "repeat w1")
    output = ids(tok, "w1") + [tok.eos_token_id]
    assert sample.input_ids == prompt + output
    assert sample.labels == [IGNORE] * len(prompt) + output


def test_samples_the_evaluator_drops_are_dropped(tok):
    long_row = {"instruct": "repeat " + "w1 " * 40, "output": "w1 " * 40}
    assert formats.instruct_sample(long_row, tiny.INSTRUCT_TYPE, tok, 64) is None
    assert formats.instruct_sample({"instruct": "repeat", "output": ""}, tiny.INSTRUCT_TYPE, tok, 64) is None


def test_chat_supervises_assistant_contents_only(tok):
    row = {"conversations": [{"from": "user", "value": "repeat w1"}, {"from": "assistant", "value": "w1 w2"}]}
    sample = formats.chat_sample(row, tiny.CHAT_TYPE, tok, 64)
    supervised = [t for t, label in zip(sample.input_ids, sample.labels) if label != IGNORE]
    # <|im_end|> is not this tokenizer's EOS, so it is not supervised (axolotl's train_on_eos: turn).
    assert supervised == ids(tok, "w1 w2")
    assert sample.input_ids[0] == tok.convert_tokens_to_ids("<|im_start|>")


def test_chat_maps_the_dataset_role_names():
    class Echo:
        eos_token_id = -1

        def __call__(self, text, add_special_tokens):
            return {"input_ids": [ord(c) for c in text]}

    dataset_type = tiny.CHAT_TYPE | {"chat_role_field": "role", "chat_content_field": "text",
                                     "chat_user_reference": "human", "chat_assistant_reference": "gpt"}
    row = {"conversations": [{"role": "human", "text": "hi"}, {"role": "gpt", "text": "yo"}]}
    sample = formats.chat_sample(row, dataset_type, Echo(), 1000)
    text = "".join(chr(i) for i in sample.input_ids)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>"
    assert "".join(chr(t) for t, l in zip(sample.input_ids, sample.labels) if l != IGNORE) == "yo"


def test_chat_supervises_the_turn_end_when_it_is_the_eos():
    class ImEndIsEos:
        eos_token_id = 0

        def __call__(self, text, add_special_tokens):
            return {"input_ids": [0] if text == "<|im_end|>" else [ord(c) for c in text]}

    row = {"conversations": [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "yo"}]}
    sample = formats.chat_sample(row, tiny.CHAT_TYPE, ImEndIsEos(), 1000)
    assert [t for t, l in zip(sample.input_ids, sample.labels) if l != IGNORE] == [ord("y"), ord("o"), 0]


def test_dpo_pairs_have_no_special_tokens_but_an_eos_after_each_completion(tok):
    pair = formats.dpo_pair({"prompt": "say w1", "chosen": "good w1", "rejected": "bad w1"}, tiny.DPO_TYPE, tok, 1024)
    prompt = ids(tok, "say w1")
    assert pair.chosen.input_ids == prompt + ids(tok, "good w1") + [tok.eos_token_id]
    assert pair.rejected.labels == [IGNORE] * len(prompt) + ids(tok, "bad w1") + [tok.eos_token_id]


def test_dpo_keeps_the_end_of_an_over_long_sequence(tok):
    row = {"prompt": "w1 " * 20, "chosen": "good", "rejected": "bad"}
    pair = formats.dpo_pair(row, tiny.DPO_TYPE, tok, 8)
    assert len(pair.chosen.input_ids) == 8
    assert pair.chosen.input_ids[-2:] == ids(tok, "good") + [tok.eos_token_id]


def test_eval_sequence_length_is_half_a_short_context():
    class Config:
        max_position_embeddings = 129

    assert formats.eval_seq_len(Config(), 1024) == 65
    Config.max_position_embeddings = 32768
    assert formats.eval_seq_len(Config(), 8192) == 4096
    assert formats.eval_seq_len(Config(), 512) == 512
