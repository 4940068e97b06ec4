"""ChatTask tokenisation: one conversation → (input_ids, labels), as axolotl's `chat_template`
strategy builds it for the reference (evaluation.md §2.4, ChatTask).

* The whole conversation is rendered with the named chat template and tokenised as the tokenizer's
  `apply_chat_template` does (no extra special tokens beyond what the template writes).
* Only assistant turns carry labels. A turn's token span is found the way axolotl finds it: render
  the conversation up to that turn once with its content and once with a dummy content, and take the
  tokens where the two differ.
* `train_on_eos: turn`: the first EOS token at most 3 positions after a trained turn is labelled too.
  (With ChatML on a tokenizer whose EOS is not `<|im_end|>`, no EOS appears and none is labelled.)
* No truncation here; over-long samples are dropped by the caller (§2.4 step 4).
"""

IGNORE_INDEX = -100
DUMMY_CONTENT = "[[dummy_message]]"
# axolotl's tolerance between the end of a turn's content and its EOS ("template padding").
EOS_WINDOW = 3

# axolotl's built-in "chatml" template, the reference's default for ChatTask.
CHATML_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NAMED_TEMPLATES = {"chatml": CHATML_TEMPLATE}


def resolve_template(name, tokenizer):
    """The Jinja template named by the dataset type's `chat_template` (default chatml)."""
    name = name or "chatml"
    if name in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[name]
    if name == "tokenizer_default" or name.startswith("tokenizer_default_fallback_"):
        if tokenizer.chat_template:
            return tokenizer.chat_template
        fallback = name.removeprefix("tokenizer_default_fallback_")
        if fallback in NAMED_TEMPLATES:
            return NAMED_TEMPLATES[fallback]
        raise ValueError(f"chat_template {name!r}: the base tokenizer has no chat template")
    raise ValueError(f"chat_template {name!r} is not supported (known: chatml, tokenizer_default)")


def conversation_turns(row, dataset_type):
    """The row's messages as {"role", "content"} turns, or None when the row is unusable.

    Messages without a role or content are skipped and a conversation needs two messages, as the
    reference's preparation does (§1.2 step 5). Roles map through the user/assistant references.
    """
    messages = row.get(dataset_type.get("chat_column") or "conversations")
    if not isinstance(messages, list):
        return None
    role_field = dataset_type.get("chat_role_field") or "from"
    content_field = dataset_type.get("chat_content_field") or "value"
    roles = {
        dataset_type.get("chat_user_reference") or "user": "user",
        dataset_type.get("chat_assistant_reference") or "assistant": "assistant",
    }
    turns = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role, content = message.get(role_field), message.get(content_field)
        if role is None or content is None:
            continue
        turns.append({"role": roles.get(role, role), "content": str(content)})
    return turns if len(turns) >= 2 else None


def tokenize_conversation(turns, tokenizer, template):
    """(input_ids, labels) of one conversation; labels are IGNORE_INDEX outside trained tokens."""
    input_ids = _render(turns, tokenizer, template)
    labels = [IGNORE_INDEX] * len(input_ids)
    for index, turn in enumerate(turns):
        if turn["role"] != "assistant":
            continue
        start, end = _find_turn(turns, index, tokenizer, template)
        if start != -1 and end != -1:
            labels[start:end] = input_ids[start:end]
        eos = _first_eos(input_ids, end, tokenizer.eos_token_id)
        if eos != -1 and abs(eos - end) <= EOS_WINDOW:
            labels[eos] = input_ids[eos]
    return input_ids, labels


def _render(turns, tokenizer, template):
    return list(
        tokenizer.apply_chat_template(
            turns, chat_template=template, tokenize=True, add_generation_prompt=False, return_dict=False
        )
    )


def _find_turn(turns, index, tokenizer, template):
    """[start, end) token span of turn `index`'s content, or (-1, -1); axolotl's `find_turn`."""
    dummy = {"role": turns[index]["role"], "content": DUMMY_CONTENT}
    dummy_ids = _render(turns[:index] + [dummy], tokenizer, template)
    full_ids = _render(turns[: index + 1], tokenizer, template)
    if not dummy_ids or not full_ids:
        return -1, -1
    shortest = min(len(dummy_ids), len(full_ids))
    start = next((i for i in range(shortest) if dummy_ids[i] != full_ids[i]), None)
    if start is None:
        return -1, -1
    end = None
    for i in range(shortest):
        if dummy_ids[len(dummy_ids) - 1 - i] != full_ids[len(full_ids) - 1 - i]:
            end = len(full_ids) - i
            break
    if end is None or end <= start:
        return -1, -1
    return start, end


def _first_eos(input_ids, start, eos_id):
    # Mirrors axolotl, including a search from -1 (the last token first) when the turn was not found.
    for i in range(start, len(input_ids)):
        if input_ids[i] == eos_id:
            return i
    return -1
