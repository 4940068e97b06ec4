"""Turning dataset rows into token sequences, the way the evaluator will read them.

Training on exactly the text the evaluator scores is the cheapest gain there is, so this follows
evaluation.md §2.4 (Instruct, Chat) and §2.5 (DPO):
* Instruct: the prompt (system part, then `format` or `no_input_format`) and the output are tokenised
  separately and joined with no separator; the prompt keeps the tokenizer's BOS, the output loses its
  BOS and gains an EOS; only output tokens carry labels.
* Chat: a chatml rendering; only assistant contents carry labels, plus the `<|im_end|>` closing
  each of them when it is the tokenizer's EOS (axolotl's `train_on_eos: turn`).
* DPO: prompt, chosen and rejected tokenised without special tokens, EOS after each completion, the
  prompt keeps its last 512 tokens and prompt+completion its last `max_len` tokens.
Samples the evaluator would drop (too long, shorter than 2 tokens, nothing labelled) are dropped here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

IGNORE = -100
DPO_MAX_PROMPT = 512
DPO_MAX_LENGTH = 1024


class DatasetError(ValueError):
    """The training file cannot be read or holds no usable row."""


@dataclasses.dataclass(frozen=True)
class Sample:
    input_ids: list[int]
    labels: list[int]


@dataclasses.dataclass(frozen=True)
class Pair:
    chosen: Sample
    rejected: Sample


def load_rows(path: Path) -> list[dict]:
    try:
        rows = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DatasetError(f"training data {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"training data {path} is not JSON: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DatasetError(f"training data {path} must be a JSON array of objects")
    return rows


def eval_seq_len(model_config, max_seq_len: int) -> int:
    """The evaluator's sequence length (4096, or half the context when it is under 8192), capped."""
    seq_len = 4096
    max_pos = getattr(model_config, "max_position_embeddings", None)
    if max_pos and max_pos < 8192:
        seq_len = math.ceil(max_pos / 2)
    return min(seq_len, max_seq_len)


def _text(value) -> str:
    return "" if value is None else str(value)


def _ids(tokenizer, text: str, special: bool) -> list[int]:
    # Empty text is zero tokens, not a lone BOS (the evaluator's rule).
    return tokenizer(text, add_special_tokens=special)["input_ids"] if text else []


def instruct_prompt(row: dict, dataset_type: dict) -> str:
    field_input = dataset_type.get("field_input")
    instruction = _text(row.get(dataset_type.get("field_instruction") or "instruct"))
    given_input = _text(row.get(field_input)) if field_input else ""
    # A mapped system column wins (even when empty in this row); otherwise the task's system_prompt.
    field_system = dataset_type.get("field_system")
    system = _text(row.get(field_system)) if field_system else _text(dataset_type.get("system_prompt"))
    fmt = dataset_type.get("format") or ("{instruction} {input}" if field_input else "{instruction}")
    no_input_fmt = dataset_type.get("no_input_format") or "{instruction}"
    turn = fmt if given_input else no_input_fmt
    prompt = turn.replace("{instruction}", instruction).replace("{input}", given_input)
    if system:
        prompt = (dataset_type.get("system_format") or "{system}").replace("{system}", system) + prompt
    return prompt


def instruct_sample(row: dict, dataset_type: dict, tokenizer, seq_len: int) -> Sample | None:
    prompt = _ids(tokenizer, instruct_prompt(row, dataset_type), special=True)[:seq_len]
    output = _ids(tokenizer, _text(row.get(dataset_type.get("field_output") or "output")), special=True)[:seq_len]
    eos, bos = tokenizer.eos_token_id, tokenizer.bos_token_id
    if output and output[-1] != eos and len(output) < seq_len:
        output = output + [eos]
    if output and bos is not None and output[0] == bos:
        output = output[1:]
    return _keep(prompt + output, [IGNORE] * len(prompt) + output, seq_len)


def chat_sample(row: dict, dataset_type: dict, tokenizer, seq_len: int) -> Sample | None:
    messages = row.get(dataset_type.get("chat_column") or "conversations")
    if not isinstance(messages, list):
        return None
    role_field = dataset_type.get("chat_role_field") or "from"
    content_field = dataset_type.get("chat_content_field") or "value"
    roles = {
        dataset_type.get("chat_user_reference") or "user": "user",
        dataset_type.get("chat_assistant_reference") or "assistant": "assistant",
    }
    end_is_eos = _ids(tokenizer, "<|im_end|>", special=False) == [tokenizer.eos_token_id]
    # (text, supervised) pieces, tokenised apart so labels line up with contents; every cut falls
    # next to a newline or a special token, where tokenizers rarely merge across, so the ids match a
    # rendering tokenised whole. Consecutive unsupervised text is tokenised in one go.
    pieces: list[tuple[str, bool]] = []
    pending = ""
    for message in messages:
        # Messages without a role or a content are skipped, as the evaluator skips them.
        if not isinstance(message, dict) or message.get(role_field) is None or message.get(content_field) is None:
            continue
        role = roles.get(message[role_field], _text(message[role_field]))
        content = _text(message[content_field])
        pending += f"<|im_start|>{role}\n"
        if role == "assistant":
            pieces += [(pending, False), (content, True), ("<|im_end|>", end_is_eos)]
            pending = "\n"
        else:
            pending += content + "<|im_end|>\n"
    ids: list[int] = []
    labels: list[int] = []
    for text, supervised in pieces:
        piece = _ids(tokenizer, text, special=False)
        ids += piece
        labels += piece if supervised else [IGNORE] * len(piece)
    return _keep(ids, labels, seq_len)


def _keep(ids: list[int], labels: list[int], seq_len: int) -> Sample | None:
    if len(ids) > seq_len or len(ids) < 2 or all(label == IGNORE for label in labels[1:]):
        return None
    return Sample(ids, labels)


def dpo_pair(row: dict, dataset_type: dict, tokenizer, max_len: int) -> Pair | None:
    prompt = _ids(tokenizer, _text(row.get(dataset_type.get("field_prompt") or "prompt")), special=False)
    prompt = prompt[-DPO_MAX_PROMPT:]
    eos = tokenizer.eos_token_id

    def side(field: str, default: str) -> Sample:
        completion = _ids(tokenizer, _text(row.get(dataset_type.get(field) or default)), special=False) + [eos]
        ids, labels = prompt + completion, [IGNORE] * len(prompt) + completion
        return Sample(ids[-max_len:], labels[-max_len:])

    pair = Pair(side("field_chosen", "chosen"), side("field_rejected", "rejected"))
    # A completion cut away entirely by the length limit has nothing to compare.
    if any(all(label == IGNORE for label in s.labels[1:]) for s in (pair.chosen, pair.rejected)):
        return None
    return pair


def grpo_prompt(row: dict, dataset_type: dict) -> str:
    return _text(row.get(dataset_type.get("field_prompt") or "prompt"))
