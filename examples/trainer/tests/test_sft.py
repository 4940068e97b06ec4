"""SFT for InstructTextTask and ChatTask: the output loads as the evaluator loads it and scores better."""

import json

import measure
import tiny


def test_instruct_defaults_write_a_lora_that_lowers_the_held_out_loss(run_trainer, base_dir):
    summary, out = run_trainer("InstructTextTask", tiny.instruct_rows(400, seed=1), tiny.INSTRUCT_TYPE)

    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == tiny.MODEL_ID
    assert (out / "adapter_model.safetensors").is_file()
    assert not list(out.glob("*.bin"))
    assert summary["last_loss"] < summary["first_loss"]
    tok, test = measure.tokenizer(base_dir), tiny.instruct_rows(60, seed=2)
    base_loss = measure.instruct_loss(measure.load_base(base_dir), tok, test)
    trained_loss = measure.instruct_loss(measure.load_output(out, base_dir), tok, test)
    print(f"held-out loss {base_loss:.3f} -> {trained_loss:.3f}")
    assert trained_loss < base_loss - 0.3


def test_full_mode_writes_a_whole_model_of_the_base_architecture(run_trainer, base_dir):
    summary, out = run_trainer(
        "InstructTextTask", tiny.instruct_rows(400, seed=1), tiny.INSTRUCT_TYPE, {"train": {"mode": "full"}}
    )

    assert not (out / "adapter_config.json").exists()
    trained_config = json.loads((out / "config.json").read_text())
    base_config = json.loads((base_dir / "config.json").read_text())
    for key in ("architectures", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"):
        assert trained_config[key] == base_config[key]
    tok, test = measure.tokenizer(base_dir), tiny.instruct_rows(60, seed=2)
    base_loss = measure.instruct_loss(measure.load_base(base_dir), tok, test)
    trained_loss = measure.instruct_loss(measure.load_output(out, base_dir), tok, test)
    assert summary["holdout_after"] < summary["holdout_before"]
    assert trained_loss < base_loss - 0.3


def test_chat_training_lowers_the_loss_of_assistant_turns(run_trainer, base_dir):
    summary, out = run_trainer("ChatTask", tiny.chat_rows(400, seed=1), tiny.CHAT_TYPE)

    tok, test = measure.tokenizer(base_dir), tiny.chat_rows(60, seed=2)
    base_loss = measure.chat_loss(measure.load_base(base_dir), tok, test)
    trained_loss = measure.chat_loss(measure.load_output(out, base_dir), tok, test)
    print(f"held-out chat loss {base_loss:.3f} -> {trained_loss:.3f}")
    assert summary["last_loss"] < summary["first_loss"]
    assert trained_loss < base_loss - 0.3


def test_a_very_high_learning_rate_diverges(run_trainer, base_dir):
    _, out = run_trainer(
        "InstructTextTask", tiny.instruct_rows(200, seed=1), tiny.INSTRUCT_TYPE, {"train": {"learning_rate": 10.0}}
    )

    tok, test = measure.tokenizer(base_dir), tiny.instruct_rows(60, seed=2)
    base_loss = measure.instruct_loss(measure.load_base(base_dir), tok, test)
    trained_loss = measure.instruct_loss(measure.load_output(out, base_dir), tok, test)
    print(f"held-out loss {base_loss:.3f} -> {trained_loss:.3f} at learning rate 10")
    assert trained_loss > base_loss + 1.0
