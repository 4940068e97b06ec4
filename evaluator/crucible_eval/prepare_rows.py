"""Text rows for the download step, as the reference prepares them (evaluation.md §1.2).

Which source columns a task reads and the standard names the trainer sees them under, the value
conversion both splits get (every value `str(v)`, None as "", chat kept as message lists), the
empty-row and blank-DPO rules, and the check of GRPO reward functions on the first train rows.
Pure functions over lists of dicts: no files, so `prepare` owns all IO.
"""

import json

from .content import ContentError
from .errors import SubmissionError
from .reward_sandbox import run_reward_function

EMPTY_ROW_LIMIT = 0.8
REWARD_SAMPLE_ROWS = 5
# A reward function that loops forever must not hang the step; real ones answer in milliseconds.
REWARD_CHECK_SECONDS = 30
# What the reference feeds a reward function when it has no rows to try it on.
FALLBACK_COMPLETIONS = [
    "A short sample completion to try the reward function on.",
    "Another sample completion, with a few more words in it than the first one.",
]

# (mapping key, standard name, required) in the reference's column order.
STANDARD_COLUMNS = {
    "InstructTextTask": (
        ("field_instruction", "instruct", True),
        ("field_output", "output", True),
        ("field_input", "input", False),
        ("field_system", "system", False),
    ),
    "DpoTask": (
        ("field_prompt", "prompt", True),
        ("field_chosen", "chosen", True),
        ("field_rejected", "rejected", True),
        ("field_system", "system", False),
    ),
}


def source_columns(task_type, dataset, rows):
    """[(source column, standard name)] the task reads, in the reference's order.

    A column counts as present when any row has it (a JSON loader fills the others with None).
    A mapped column that no row has fails, naming the column and the mapping that asked for it.
    """
    columns = dataset.columns
    if task_type == "ChatTask":
        chat_column = dataset.chat_fields()["chat_column"]
        wanted = [("chat_column", chat_column, chat_column)]
    elif task_type == "GrpoTask":
        prompt_key = "field_prompt" if columns.get("field_prompt") else "field_instruction"
        wanted = [(prompt_key, columns[prompt_key], "prompt")]
        if columns.get("extra_column"):
            wanted.append(("extra_column", columns["extra_column"], "extra_data"))
    else:
        wanted = [
            (key, columns[key], standard)
            for key, standard, required in STANDARD_COLUMNS[task_type]
            if required or columns.get(key)
        ]
    present = set()
    for row in rows:
        present.update(row)
    for key, source, _ in wanted:
        if source not in present:
            raise ContentError(f"dataset {dataset.id} has no column {source!r} (mapped as {key})")
    return [(source, standard) for _, source, standard in wanted]


def chat_messages(value, role_field, content_field):
    """A chat cell as the reference keeps it: a JSON-looking string is parsed; of a list, the
    messages with both a role and a content are kept, and fewer than two make it empty."""
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, list):
        kept = [
            message
            for message in value
            if isinstance(message, dict)
            and message.get(role_field) is not None
            and message.get(content_field) is not None
        ]
        return kept if len(kept) > 1 else []
    return "" if value is None else value


def convert_rows(rows, columns, task_type, dataset, split_name):
    """One split's rows under their standard names, converted, filtered and checked."""
    chat = dataset.chat_fields() if task_type == "ChatTask" else None
    result = []
    empty = 0
    for row in rows:
        converted = {}
        for source, standard in columns:
            value = row.get(source)
            if chat:
                converted[standard] = chat_messages(value, chat["chat_role_field"], chat["chat_content_field"])
            else:
                converted[standard] = "" if value is None else str(value)
        is_empty = all(value == "" or value == [] for value in converted.values())
        if chat and is_empty:
            continue  # a conversation without two usable messages is dropped, not counted
        result.append(converted)
        empty += is_empty
    if result and empty / len(result) > EMPTY_ROW_LIMIT:
        raise ContentError(
            f"dataset {dataset.id}: more than 80% of the {split_name} rows are fully empty "
            f"({empty}/{len(result)} rows)"
        )
    if task_type == "DpoTask":
        result = [
            row for row in result if row["prompt"].strip() and row["chosen"].strip() and row["rejected"].strip()
        ]
        if not result:
            raise ContentError(f"dataset {dataset.id}: every {split_name} row has a blank prompt, chosen or rejected")
    return result


def check_reward_functions(functions, train_rows):
    """Fail on the first reward function that does not score the first train rows.

    The reference drops an invalid function and goes on while one is left; here the functions are
    fixed in the task's dataset type, which the trainer has already been promised, so an invalid
    one fails the preparation instead, naming the function.
    """
    if not functions:
        raise ContentError("a GrpoTask needs at least one reward function")
    sample = train_rows[:REWARD_SAMPLE_ROWS]
    for name, source in functions:
        problem = reward_problem(name, source, sample)
        if problem:
            raise ContentError(f"{problem} (tried on the first {len(sample)} train rows)")


def reward_problem(name, source, sample):
    """Why `source` is not a valid reward function on `sample`, or None when it is.

    As the reference: the source's first callable, called on the rows' prompts as completions (with
    `extra_data=` when it takes that and every row carries it), must answer a list of numbers, one
    per completion. It runs in the evaluator's reward sandbox (reward_sandbox.py: its own
    unprivileged process, limits, no sockets), because task content is foreign code too.
    """
    prompts = [row.get("prompt", "Sample prompt") for row in sample] or FALLBACK_COMPLETIONS
    call = {"completions": prompts, "kwargs": {}, "retry_without_kwargs": False}
    if sample and all("extra_data" in row for row in sample):
        call["extra_data_if_supported"] = [row["extra_data"] for row in sample]
    try:
        run_reward_function(name, source, [call], wall_seconds=REWARD_CHECK_SECONDS)
    except SubmissionError as error:
        return str(error)
    return None
