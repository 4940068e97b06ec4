"""GrpoTask: reward functions in the sandbox, reward means, KL and the provisional score."""

import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import copy_model, load_model, make_args, make_lora
from crucible_eval import grpo
from crucible_eval.errors import SubmissionError
from crucible_eval.loading import BaseReference, load_tokenizer, load_trained_model
from crucible_eval.reward_sandbox import run_reward_function

WORD_COUNT = "def word_count(completions, **kwargs):\n    return [float(len(c.split())) for c in completions]\n"
BATCH_SIZE = "def batch_size(completions, **kwargs):\n    return [float(len(completions)) for _ in completions]\n"
CHARS = "import math\n\ndef chars(completions):\n    return [math.sqrt(len(c)) for c in completions]\n"


def call(completions, **kwargs):
    return {"completions": completions, "kwargs": kwargs, "retry_without_kwargs": True}


def test_reward_means_follow_the_hand_computation_batch_by_batch():
    prompts = [f"p{i}" for i in range(10)]
    completions = [("a b c" if i % 2 else "a") for i in range(20)]  # 2 per prompt, [p0, p0, p1, p1, ...]
    specs = [("words", WORD_COUNT, 0.5), ("batch", BATCH_SIZE, 0.25), ("chars", CHARS, 0.25)]
    means = grpo.reward_means(specs, prompts, completions, None)
    # 20 completions = one batch of 16 and one of 4, each call seeing only its batch.
    assert means == pytest.approx([(10 * 3 + 10 * 1) / 20, (16 * 16 + 4 * 4) / 20, (10 * 5**0.5 + 10 * 1) / 20])


def test_reward_functions_see_prompts_and_extra_data():
    source = ("def match(completions, prompts, extra_data, **kwargs):\n"
              "    return [float(c == e and p.startswith('q')) for c, p, e in zip(completions, prompts, extra_data)]\n")
    # Completions come two per prompt, so row values repeat: extra_data seen = [x, x, z, z].
    means = grpo.reward_means([("match", source, 1.0)], ["q1", "q2"], ["x", "y", "z", "z"], ["x", "z"])
    assert means == [0.75]


def test_reward_weights_are_normalised_in_dataset_type_order():
    dataset_type = {"reward_functions": [{"reward_id": "a", "reward_func": WORD_COUNT, "reward_weight": 3.0},
                                         {"reward_id": "b", "reward_func": CHARS, "reward_weight": 1.0}]}
    assert [(r, w) for r, _, w in grpo.reward_specs(dataset_type)] == [("a", 0.75), ("b", 0.25)]


def test_a_reward_function_cannot_open_a_socket():
    source = "import socket\ndef f(completions, **kw):\n    socket.socket()\n    return [0.0] * len(completions)\n"
    with pytest.raises(SubmissionError, match="reward function net failed.*socket"):
        run_reward_function("net", source, [call(["a"])])


def test_a_reward_function_cannot_write_outside_its_temp_dir():
    # A world-writable directory, which uid nobody could write to without the sandbox.
    open_dir = tempfile.mkdtemp(prefix="crucible-escape-")
    os.chmod(open_dir, 0o777)
    target = Path(open_dir) / "escaped.txt"
    source = (f"def f(completions, **kw):\n    open({str(target)!r}, 'w').write('x')\n"
              "    return [0.0] * len(completions)\n")
    with pytest.raises(SubmissionError, match="blocked by the reward sandbox"):
        run_reward_function("writer", source, [call(["a"])])
    assert not target.exists()


def test_a_reward_function_may_use_its_own_temp_dir_and_cannot_start_processes():
    scratch = ("def f(completions, **kw):\n    open('scratch.txt', 'w').write('ok')\n"
               "    return [float(len(open('scratch.txt').read())) for _ in completions]\n")
    assert run_reward_function("scratch", scratch, [call(["a", "b"])]) == [[2.0, 2.0]]
    spawn = "import os\ndef f(completions, **kw):\n    os.system('true')\n    return [0.0]\n"
    with pytest.raises(SubmissionError, match="os.system"):
        run_reward_function("spawn", spawn, [call(["a"])])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_a_reward_function_runs_as_nobody():
    source = "import os\ndef f(completions, **kw):\n    return [float(os.getuid())] * len(completions)\n"
    assert run_reward_function("uid", source, [call(["a"])]) == [[65534.0]]


@pytest.mark.parametrize("body, message", [
    ("return [1.0]", "returned 1 rewards for 3 completions"),
    ("return [float('nan')] * len(completions)", "non-finite"),
    ("return 1.0", "not a list"),
    ("return [None] * len(completions)", "not a number"),
])
def test_a_malformed_reward_fails_the_repo(body, message):
    source = f"def f(completions, **kw):\n    {body}\n"
    with pytest.raises(SubmissionError, match=message):
        run_reward_function("bad", source, [call(["a", "b", "c"])])


def test_a_reward_that_fails_on_the_test_prompts_fails_before_any_model_loads():
    source = "def f(completions):\n    return [1.0]\n"
    with pytest.raises(SubmissionError, match="returned 1 rewards for 2"):
        grpo.validate_reward_functions([("short", source, 1.0)], ["p1", "p2"], None)


GRPO_ROWS = [{"prompt": "what is two plus three ?"}, {"prompt": "where does anna live ?"}, {"prompt": ""}]
GRPO_TYPE = {"field_prompt": "prompt", "extra_column": None, "reward_functions": [
    {"reward_id": "words", "reward_func": WORD_COUNT, "reward_weight": 2.0, "func_hash": "x", "is_generic": True},
    {"reward_id": "chars", "reward_func": CHARS, "reward_weight": 6.0, "func_hash": "y", "is_generic": True},
]}


def hand_kl(base, trained, tokenizer, prompts):
    values = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, :128]
        if ids.shape[1] == 0:
            continue
        with torch.no_grad():
            p = base(input_ids=ids).logits[0].log_softmax(-1)
            q = trained(input_ids=ids).logits[0].log_softmax(-1)
        values.append((p.exp() * (p - q)).sum(-1).mean().item())
    return sum(values) / len(values)


def test_grpo_score_is_weighted_reward_minus_half_the_kl(base_dir, tmp_path, write_rows):
    lora_dir = str(tmp_path / "lora")
    trained = make_lora(base_dir, lora_dir, seed=5).merge_and_unload().eval()
    result = grpo.evaluate(make_args("GrpoTask", base_dir, lora_dir, write_rows(GRPO_ROWS), GRPO_TYPE))

    # Generation is seeded: the evaluator's model sampled again gives the same completions.
    tokenizer = load_tokenizer(base_dir)
    prompts = [row["prompt"] for row in GRPO_ROWS]
    completions = grpo.generate_completions(load_trained_model(base_dir, lora_dir, tokenizer)[0], tokenizer, prompts)
    assert len(completions) == 2 * len(prompts)
    words = sum(len(c.split()) for c in completions) / len(completions)
    chars = sum(len(c) ** 0.5 for c in completions) / len(completions)
    kl = hand_kl(load_model(base_dir), trained, tokenizer, prompts)
    assert result["rewards"] == pytest.approx([words, chars], abs=1e-6)
    assert result["reward_weights"] == pytest.approx([0.25, 0.75])
    assert result["kl_divergence"] == pytest.approx(kl, abs=1e-5) and kl > 1e-4
    assert result["test_loss"] == pytest.approx(0.25 * words + 0.75 * chars - 0.5 * kl, abs=1e-5)
    assert result["is_finetune"] is True


def test_the_unchanged_base_has_no_kl(base_dir, tmp_path, write_rows):
    copy = copy_model(base_dir, str(tmp_path / "copy"))
    result = grpo.evaluate(make_args("GrpoTask", base_dir, copy, write_rows(GRPO_ROWS[:1]), GRPO_TYPE))
    assert abs(result["kl_divergence"]) < 1e-6
    assert result["is_finetune"] is False


def test_kl_reads_base_and_trained_logits_separately_for_a_lora(base_dir, tmp_path):
    """With a LoRA the base is the same object with its adapter disabled; the trained side must not be."""
    lora_dir = str(tmp_path / "lora")
    make_lora(base_dir, lora_dir, seed=6)
    tokenizer = load_tokenizer(base_dir)
    model, _ = load_trained_model(base_dir, lora_dir, tokenizer)
    kl = grpo.kl_divergence(BaseReference(model, base_dir), model, tokenizer, ["what is two plus three ?"])
    with torch.no_grad():
        ids = tokenizer("what is two plus three ?", return_tensors="pt")["input_ids"]
        q = F.log_softmax(model(input_ids=ids).logits[0], -1)
        p = F.log_softmax(load_model(base_dir)(input_ids=ids).logits[0], -1)
    assert kl == pytest.approx((p.exp() * (p - q)).sum(-1).mean().item(), abs=1e-5)
