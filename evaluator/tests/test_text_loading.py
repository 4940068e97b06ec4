"""Loading submissions: LoRA vs full model, is_finetune, and the errors a miner must be able to act on."""

import json
import os
import shutil

import pytest
import torch

from conftest import INSTRUCT_ROWS, INSTRUCT_TYPE, WORDS, copy_model, load_model, make_args, make_lora
from crucible_eval import instruct
from crucible_eval.errors import SubmissionError
from crucible_eval.loading import load_trained_model
from crucible_eval.tiny_text import make_llama


def evaluate(base_dir, trained, write_rows):
    return instruct.evaluate(make_args("InstructTextTask", base_dir, trained, write_rows(INSTRUCT_ROWS), INSTRUCT_TYPE))


def test_a_lora_scores_like_its_merged_full_model(base_dir, tmp_path, write_rows):
    lora_dir, merged_dir = str(tmp_path / "lora"), str(tmp_path / "merged")
    peft_model = make_lora(base_dir, lora_dir)
    peft_model.merge_and_unload().save_pretrained(merged_dir, safe_serialization=True)
    # The adapter names a base model that does not exist here: it must be applied to the task's base.
    config_path = os.path.join(lora_dir, "adapter_config.json")
    config = json.load(open(config_path))
    config["base_model_name_or_path"] = "someone/elsewhere"
    json.dump(config, open(config_path, "w"))
    lora, merged = evaluate(base_dir, lora_dir, write_rows), evaluate(base_dir, merged_dir, write_rows)
    copy = evaluate(base_dir, copy_model(base_dir, str(tmp_path / "copy")), write_rows)
    assert lora["test_loss"] == pytest.approx(merged["test_loss"], abs=1e-5)
    assert abs(lora["test_loss"] - copy["test_loss"]) > 1e-3  # the adapter really changed the model
    assert lora["is_finetune"] is True and merged["is_finetune"] is True


def test_an_unchanged_copy_of_the_base_is_not_a_finetune(base_dir, tokenizer, tmp_path):
    _, why_not = load_trained_model(base_dir, copy_model(base_dir, str(tmp_path / "copy")), tokenizer)
    assert why_not == "it is the base model unchanged (every tensor equal)"


def test_a_different_hidden_size_loads_but_is_not_a_finetune(base_dir, tmp_path, write_rows):
    other = str(tmp_path / "wide")
    make_llama(other, WORDS, hidden=48, layers=2, heads=2, seed=1)
    result = evaluate(base_dir, other, write_rows)
    assert result["is_finetune"] is False and result["test_loss"] > 0
    assert result["not_finetune"] == "its hidden_size 48 differs from the base model's 32"


def test_another_architecture_is_not_a_finetune_and_says_so(base_dir, tokenizer, tmp_path):
    other = copy_model(base_dir, str(tmp_path / "mistral"))
    config_path = os.path.join(other, "config.json")
    config = json.load(open(config_path))
    config.update(architectures=["MistralForCausalLM"], model_type="mistral")
    json.dump(config, open(config_path, "w"))
    _, why_not = load_trained_model(base_dir, other, tokenizer)
    assert why_not == "its architectures ['MistralForCausalLM'] differ from the base model's ['LlamaForCausalLM']"


def test_a_smaller_vocabulary_is_refused(base_dir, tokenizer, tmp_path):
    other = str(tmp_path / "small-vocab")
    make_llama(other, WORDS[:20], hidden=32, layers=2, heads=2)
    with pytest.raises(SubmissionError, match="vocabulary"):
        load_trained_model(base_dir, other, tokenizer)


def test_an_empty_output_directory_is_refused(base_dir, tokenizer, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SubmissionError, match="empty"):
        load_trained_model(base_dir, str(empty), tokenizer)
    with pytest.raises(SubmissionError, match="does not exist"):
        load_trained_model(base_dir, str(tmp_path / "missing"), tokenizer)


def test_a_pickle_only_checkpoint_is_refused(base_dir, tokenizer, tmp_path):
    out = tmp_path / "pickled"
    out.mkdir()
    shutil.copy(os.path.join(base_dir, "config.json"), out)
    torch.save(load_model(base_dir).state_dict(), out / "pytorch_model.bin")
    with pytest.raises(SubmissionError, match="pickle"):
        load_trained_model(base_dir, str(out), tokenizer)


def test_a_pickle_only_adapter_is_refused(base_dir, tokenizer, tmp_path):
    lora_dir = str(tmp_path / "lora")
    make_lora(base_dir, lora_dir)
    os.rename(os.path.join(lora_dir, "adapter_model.safetensors"), os.path.join(lora_dir, "adapter_model.bin"))
    with pytest.raises(SubmissionError, match="adapter_model.safetensors"):
        load_trained_model(base_dir, lora_dir, tokenizer)


def test_an_adapter_for_other_modules_is_refused(base_dir, tokenizer, tmp_path):
    lora_dir = str(tmp_path / "lora")
    make_lora(base_dir, lora_dir)
    config_path = os.path.join(lora_dir, "adapter_config.json")
    config = json.load(open(config_path))
    config["target_modules"] = ["c_attn"]  # a GPT-2 module name, absent from Llama
    json.dump(config, open(config_path, "w"))
    with pytest.raises(SubmissionError, match="LoRA"):
        load_trained_model(base_dir, lora_dir, tokenizer)


def test_nan_weights_are_refused(base_dir, tokenizer, tmp_path):
    model = load_model(base_dir)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    out = str(tmp_path / "nan")
    model.save_pretrained(out, safe_serialization=True)
    with pytest.raises(SubmissionError, match="non-finite"):
        load_trained_model(base_dir, out, tokenizer)


def test_files_in_the_wrong_place_are_named(base_dir, tokenizer, tmp_path):
    out = tmp_path / "nested"
    copy_model(base_dir, str(out / "checkpoint-10"))
    with pytest.raises(SubmissionError, match="checkpoint-10"):
        load_trained_model(base_dir, str(out), tokenizer)
