"""The download step on small hand-made content directories (evaluation.md §1.2, §1.4)."""

import json
import zipfile

import numpy as np
import pytest

from crucible_eval.content import ContentError, load_content
from crucible_eval.prepare import image_split, main, split_indices

INSTRUCT_COLUMNS = {"field_instruction": "question", "field_input": "context", "field_output": "answer"}
DPO_COLUMNS = {"field_prompt": "query", "field_chosen": "good", "field_rejected": "bad"}
CHAT_COLUMNS = {"chat_column": "talk", "chat_role_field": "from", "chat_content_field": "value"}
UNIQUE_WORDS = (
    "def reward_unique(completions, **kwargs):\n"
    "    return [len(set(c.split())) / max(1, len(c.split())) for c in completions]\n"
)
NOT_A_LIST = "def reward_broken(completions, **kwargs):\n    return 1.0\n"


def instruct_rows(n):
    return [{"question": f"question {i}", "context": None if i % 3 else f"context {i}",
             "answer": i, "unused": "x"} for i in range(n)]


def write_content(root, datasets, rewards=(), sdxl_resolution=None):
    """A content directory with one text and one image model and the given datasets:
    {id: (task types, columns, rows as a list, or image pairs as {stem: caption or None})}."""
    (root / "models" / "text").mkdir(parents=True)
    (root / "models" / "text" / "config.json").write_text('{"model_type": "llama"}')
    (root / "models" / "sdxl").mkdir(parents=True)
    (root / "models" / "sdxl" / "model_index.json").write_text("{}")
    entries = []
    for dataset_id, (task_types, columns, rows) in datasets.items():
        if task_types == ["ImageTask"]:
            path = f"datasets/{dataset_id.replace('/', '--')}"
            (root / path).mkdir(parents=True)
            for stem, caption in rows.items():
                (root / path / f"{stem}.png").write_bytes(b"png " + stem.encode())
                if caption is not None:
                    (root / path / f"{stem}.txt").write_text(caption)
        else:
            path = f"datasets/{dataset_id.replace('/', '--')}.json"
            (root / "datasets").mkdir(exist_ok=True)
            (root / path).write_text(json.dumps(rows))
        entries.append({"id": dataset_id, "path": path, "rows": len(rows), "task_types": task_types,
                        "columns": columns})
    content = {
        "models": [{"id": "tiny/text", "path": "models/text", "params": 10},
                   {"id": "tiny/sdxl", "path": "models/sdxl", "params": 10, "model_type": "sdxl",
                    **({"resolution": sdxl_resolution} if sdxl_resolution else {})}],
        "datasets": entries,
        "reward_functions": [{"reward_id": rid, "reward_func": src} for rid, src in rewards],
    }
    (root / "content.json").write_text(json.dumps(content))
    return root


def run(tmp_path, task_type, dataset, model="tiny/text", task_id="t1", dataset_type=None, out="out"):
    argv = ["--content", str(tmp_path / "content"), "--task-id", task_id, "--task-type", task_type,
            "--model", model, "--dataset", dataset, "--cache", str(tmp_path / out / "cache"),
            "--heldout", str(tmp_path / out / "heldout")]
    if dataset_type is not None:
        argv += ["--dataset-type", json.dumps(dataset_type)]
    return main(argv)


def read_splits(tmp_path, task_id="t1", out="out"):
    train = json.loads((tmp_path / out / "cache" / "datasets" / f"{task_id}_train_data.json").read_text())
    test = json.loads((tmp_path / out / "heldout" / f"{task_id}_test_data.json").read_text())
    return train, test


def last_error(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.fixture
def instruct_content(tmp_path):
    return write_content(tmp_path / "content", {"d/instruct": (["InstructTextTask", "GrpoTask"],
                                                               INSTRUCT_COLUMNS, instruct_rows(2400))},
                         rewards=[("unique-words", UNIQUE_WORDS)])


def test_instruct_columns_are_standardised_and_values_become_strings(tmp_path, instruct_content):
    assert run(tmp_path, "InstructTextTask", "d/instruct") == 0
    train, test = read_splits(tmp_path)
    rows = {row["instruct"]: row for row in train + test}
    assert list(rows["question 3"]) == ["instruct", "output", "input"]
    assert rows["question 3"] == {"instruct": "question 3", "output": "3", "input": "context 3"}
    assert rows["question 4"]["input"] == ""  # None becomes ""
    assert (tmp_path / "out" / "cache" / "models" / "tiny--text" / "config.json").is_file()


def test_split_is_numpys_permutation_disjoint_and_complete(tmp_path, instruct_content):
    assert run(tmp_path, "InstructTextTask", "d/instruct") == 0
    train, test = read_splits(tmp_path)
    assert (len(test), len(train)) == (240, 2160)
    permutation = np.random.default_rng(42).permutation(2400)
    assert [row["output"] for row in test] == [str(i) for i in permutation[:240]]
    assert [row["output"] for row in train] == [str(i) for i in permutation[240:]]
    assert sorted(int(row["output"]) for row in train + test) == list(range(2400))


def test_test_split_is_capped_at_400_rows():
    test, train = split_indices(5000)
    assert (len(test), len(train)) == (400, 4600)
    assert sorted(test + train) == list(range(5000))
    assert len(split_indices(2000)[0]) == 200


def test_preparing_twice_gives_identical_files(tmp_path, instruct_content, capsys):
    assert run(tmp_path, "InstructTextTask", "d/instruct", out="a") == 0
    assert run(tmp_path, "InstructTextTask", "d/instruct", out="b") == 0
    assert read_splits(tmp_path, out="a") == read_splits(tmp_path, out="b")
    first = (tmp_path / "a" / "heldout" / "t1_test_data.json").read_bytes()
    assert run(tmp_path, "InstructTextTask", "d/instruct", out="a") == 0
    assert (tmp_path / "a" / "heldout" / "t1_test_data.json").read_bytes() == first
    assert "model tiny/text already at" in capsys.readouterr().out
    leftovers = [p.name for p in (tmp_path / "a").rglob(".*")]
    assert leftovers == []


def test_a_half_copied_model_is_not_taken_for_a_complete_one(tmp_path, instruct_content):
    partial = tmp_path / "out" / "cache" / "models" / ".tiny--text.partial-crashed"
    partial.mkdir(parents=True)
    assert run(tmp_path, "InstructTextTask", "d/instruct") == 0
    assert (tmp_path / "out" / "cache" / "models" / "tiny--text" / "config.json").is_file()


def test_dpo_rows_with_a_blank_field_are_dropped(tmp_path):
    rows = [{"query": f"q {i}", "good": "yes" if i % 10 else "  ", "bad": "no"} for i in range(2400)]
    write_content(tmp_path / "content", {"d/dpo": (["DpoTask"], DPO_COLUMNS, rows)})
    assert run(tmp_path, "DpoTask", "d/dpo") == 0
    train, test = read_splits(tmp_path)
    assert len(train) + len(test) == 2160
    assert all(row["chosen"] == "yes" for row in train + test)
    assert list(train[0]) == ["prompt", "chosen", "rejected"]


def test_chat_keeps_message_lists_and_drops_short_conversations(tmp_path):
    rows = []
    for i in range(2400):
        talk = [{"from": "user", "value": f"hi {i}"}, {"from": "assistant", "value": "hello"}]
        if i % 4 == 0:
            talk = talk[:1]  # one message: dropped
        elif i % 4 == 1:
            talk = json.dumps(talk)  # a JSON string is parsed
        rows.append({"talk": talk})
    write_content(tmp_path / "content", {"d/chat": (["ChatTask"], CHAT_COLUMNS, rows)})
    assert run(tmp_path, "ChatTask", "d/chat") == 0
    train, test = read_splits(tmp_path)
    assert len(train) + len(test) == 1800
    assert all(isinstance(row["talk"], list) and len(row["talk"]) == 2 for row in train + test)


def test_too_few_rows_fail_with_the_count(tmp_path, capsys):
    write_content(tmp_path / "content", {"d/small": (["InstructTextTask"], INSTRUCT_COLUMNS, instruct_rows(1999))})
    assert run(tmp_path, "InstructTextTask", "d/small") == 2
    assert last_error(capsys) == "error: dataset d/small has 1999 rows, at least 2000 are needed"


def test_a_missing_mapped_column_fails_naming_it(tmp_path, capsys):
    columns = dict(INSTRUCT_COLUMNS, field_output="solution")
    write_content(tmp_path / "content", {"d/x": (["InstructTextTask"], columns, instruct_rows(2400))})
    assert run(tmp_path, "InstructTextTask", "d/x") == 2
    assert last_error(capsys) == "error: dataset d/x has no column 'solution' (mapped as field_output)"


def test_mostly_empty_rows_fail(tmp_path, capsys):
    rows = [{"question": None if i % 10 else "q", "context": "", "answer": None} for i in range(2400)]
    write_content(tmp_path / "content", {"d/empty": (["InstructTextTask"], INSTRUCT_COLUMNS, rows)})
    assert run(tmp_path, "InstructTextTask", "d/empty") == 2
    assert "more than 80% of the train rows are fully empty" in last_error(capsys)


def test_a_dataset_is_only_prepared_for_the_task_types_it_serves(tmp_path, instruct_content, capsys):
    assert run(tmp_path, "DpoTask", "d/instruct") == 2
    assert "does not serve DpoTask" in last_error(capsys)
    assert run(tmp_path, "InstructTextTask", "d/nothing") == 2
    assert last_error(capsys) == "error: content.json has no dataset 'd/nothing'"


def test_grpo_prompts_come_from_the_instruction_and_reward_functions_are_checked(tmp_path, instruct_content, capsys):
    good = {"field_prompt": "prompt", "reward_functions": [
        {"reward_id": "unique-words", "reward_func": UNIQUE_WORDS, "reward_weight": 1.0}]}
    assert run(tmp_path, "GrpoTask", "d/instruct", dataset_type=good) == 0
    train, test = read_splits(tmp_path)
    assert train[0] == {"prompt": train[0]["prompt"]} and train[0]["prompt"].startswith("question")
    assert run(tmp_path, "GrpoTask", "d/instruct") == 0  # the content's own functions

    bad = {"reward_functions": [good["reward_functions"][0], {"reward_id": "broken", "reward_func": NOT_A_LIST}]}
    assert run(tmp_path, "GrpoTask", "d/instruct", dataset_type=bad, out="bad") == 2
    assert last_error(capsys) == ("error: reward function broken failed: TypeError: returned float, not a list "
                                  "of numbers (tried on the first 5 train rows)")
    syntax = {"reward_functions": [{"reward_id": "typo", "reward_func": "def f(completions:\n"}]}
    assert run(tmp_path, "GrpoTask", "d/instruct", dataset_type=syntax, out="bad") == 2
    assert "reward function typo failed: SyntaxError" in last_error(capsys)
    assert not (tmp_path / "bad" / "heldout" / "t1_test_data.json").exists()


def test_image_pairs_are_split_and_zipped_under_the_zip_stem(tmp_path):
    pairs = {str(i): f"caption {i}" for i in range(20)}
    pairs["20"] = None  # an image without a caption is skipped
    write_content(tmp_path / "content", {"d/images": (["ImageTask"], {}, pairs)})
    assert run(tmp_path, "ImageTask", "d/images", model="tiny/sdxl") == 0
    train_zip = tmp_path / "out" / "cache" / "datasets" / "t1_tourn.zip"
    test_zip = tmp_path / "out" / "heldout" / "t1_test_data.zip"
    train_names = zipfile.ZipFile(train_zip).namelist()
    test_names = zipfile.ZipFile(test_zip).namelist()
    assert (len(train_names), len(test_names)) == (36, 4)  # 18 + 2 pairs of (png, txt)
    assert all(name.startswith("train_data/") for name in train_names)
    assert all(name.startswith("test_data/") for name in test_names)
    stems = {name.split("/")[1].split(".")[0] for name in train_names + test_names}
    assert stems == {str(i) for i in range(20)}
    test_keys, _ = image_split([str(i) for i in range(20)])
    assert {name.split("/")[1].split(".")[0] for name in test_names} == set(test_keys)
    assert zipfile.ZipFile(test_zip).read(f"test_data/{test_keys[0]}.txt").decode() == f"caption {test_keys[0]}"
    first = train_zip.read_bytes()
    assert run(tmp_path, "ImageTask", "d/images", model="tiny/sdxl") == 0
    assert train_zip.read_bytes() == first


def test_a_declared_resolution_reaches_the_evaluator_beside_the_held_out_zip(tmp_path):
    pairs = {str(i): f"caption {i}" for i in range(12)}
    for base, resolution in ((tmp_path / "reference", None), (tmp_path / "declared", 32)):
        write_content(base / "content", {"d/images": (["ImageTask"], {}, pairs)}, sdxl_resolution=resolution)
        assert run(base, "ImageTask", "d/images", model="tiny/sdxl") == 0
    assert not (tmp_path / "reference" / "out" / "heldout" / "t1_image_eval.json").exists()
    settings = json.loads((tmp_path / "declared" / "out" / "heldout" / "t1_image_eval.json").read_text())
    assert settings == {"long_side": 32}


def test_a_resolution_on_a_text_model_is_refused(tmp_path):
    root = write_content(tmp_path / "content", {})
    content = json.loads((root / "content.json").read_text())
    content["models"][0]["resolution"] = 32
    (root / "content.json").write_text(json.dumps(content))
    with pytest.raises(ContentError, match="only image models take"):
        load_content(root)


def test_image_test_share_rounds_up_as_the_reference_does():
    assert len(image_split([str(i) for i in range(10)])[0]) == 1
    assert len(image_split([str(i) for i in range(11)])[0]) == 2
    assert len(image_split([str(i) for i in range(50)])[0]) == 5


def test_image_tasks_need_an_image_model(tmp_path, capsys):
    write_content(tmp_path / "content", {"d/images": (["ImageTask"], {}, {str(i): "c" for i in range(12)})})
    assert run(tmp_path, "ImageTask", "d/images", model="tiny/text") == 2
    assert "ImageTask needs an image (sdxl/flux) model" in last_error(capsys)


def test_a_reward_function_that_never_returns_is_stopped(tmp_path, instruct_content, capsys, monkeypatch):
    from crucible_eval import prepare_rows

    monkeypatch.setattr(prepare_rows, "REWARD_CHECK_SECONDS", 1)
    endless = {"reward_functions": [{"reward_id": "endless",
                                     "reward_func": "def f(completions):\n    while True:\n        pass\n"}]}
    assert run(tmp_path, "GrpoTask", "d/instruct", dataset_type=endless) == 2
    assert last_error(capsys) == "error: reward function endless ran longer than 1 s (tried on the first 5 train rows)"


def test_a_reward_function_runs_sandboxed_while_it_is_checked(tmp_path, instruct_content, capsys):
    # Task content is foreign code too: the check runs it where it cannot reach the network or
    # write outside its own directory.
    sneaky = {"reward_functions": [{"reward_id": "sneaky", "reward_func": (
        "def f(completions):\n"
        "    import socket\n"
        "    socket.create_connection(('127.0.0.1', 9))\n"
        "    return [1.0 for _ in completions]\n")}]}
    assert run(tmp_path, "GrpoTask", "d/instruct", dataset_type=sneaky) == 2
    error = last_error(capsys)
    assert error.startswith("error: reward function sneaky failed: ") and "socket" in error, error
