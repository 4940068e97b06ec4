"""InstructTextTask and ChatTask: the masked causal-LM test loss (evaluation.md §2.4).

Per sample: prompt tokens are masked, output tokens (or assistant turns, for Chat) are labelled; the
loss is the HF causal-LM loss (shift by one, mean cross-entropy over labelled positions). The score is
the arithmetic mean of the per-sample losses, each sample in its own forward pass (batch size 1, as
the reference runs it), so padding never enters the value.

Tokenisation follows axolotl's `user_defined` instruct strategy exactly: the prompt keeps the
tokenizer's default special tokens and no EOS; the output is tokenised alone, gets an EOS and loses
a leading BOS; there is no separator. Samples longer than `seq_len`, shorter than 2 tokens, or with
no labelled token are dropped.
"""

import math

from . import chat
from .errors import SubmissionError
from .loading import (check_output_dir, count_params, finetune_fields, input_device, load_tokenizer,
                      load_trained_model, max_positions, read_rows, text_of)

IGNORE_INDEX = chat.IGNORE_INDEX
DEFAULT_SEQ_LEN = 4096
MIN_SAMPLE_LEN = 2


def sequence_length(max_position_embeddings):
    """4096, or ceil(max_pos / 2) when the model's max_position_embeddings is below 2 × 4096."""
    if max_position_embeddings and max_position_embeddings < 2 * DEFAULT_SEQ_LEN:
        return math.ceil(max_position_embeddings / 2)
    return DEFAULT_SEQ_LEN


def axolotl_tokenize(tokenizer, text, max_length, add_eos, strip_bos):
    """axolotl's `PromptTokenizingStrategy._tokenize`: empty text → no tokens; truncate to
    `max_length`; append EOS when asked, missing and there is room; then drop a leading BOS."""
    if not text:
        return []
    ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    if not ids:
        return []
    if add_eos and ids[-1] != tokenizer.eos_token_id and len(ids) < max_length:
        ids.append(tokenizer.eos_token_id)
    if strip_bos and ids[0] == tokenizer.bos_token_id:
        ids = ids[1:]
    return ids


def instruct_prompt(row, dataset_type):
    """The prompt text of an instruct row: system part, then `format` or `no_input_format`."""
    field_input = dataset_type.get("field_input")
    field_system = dataset_type.get("field_system")
    instruction = text_of(row, dataset_type.get("field_instruction"))
    given_input = text_of(row, field_input) if field_input and field_input in row else ""
    if field_system and field_system in row:
        system = text_of(row, field_system)
    else:
        system = "" if field_system else (dataset_type.get("system_prompt") or "")
    turn_format = dataset_type.get("format")
    if turn_format is None:
        turn_format = "{instruction} {input}" if field_input else "{instruction}"
    no_input_format = dataset_type.get("no_input_format")
    if no_input_format is None:
        no_input_format = "{instruction}"
    system_format = dataset_type.get("system_format")
    prefix = system_format.format(system=system) if system and system_format else ""
    if given_input:
        return prefix + turn_format.format(instruction=instruction, input=given_input)
    return prefix + no_input_format.format(instruction=instruction)


def instruct_sample(row, dataset_type, tokenizer, seq_len):
    """(input_ids, labels) of one instruct row: masked prompt ++ labelled output."""
    field_output = dataset_type.get("field_output")
    if not field_output:
        raise ValueError("instruct dataset type without field_output (axolotl 'completion') is not supported")
    prompt_ids = axolotl_tokenize(tokenizer, instruct_prompt(row, dataset_type), seq_len, False, False)
    output_ids = axolotl_tokenize(tokenizer, text_of(row, field_output), seq_len, True, True)
    return prompt_ids + output_ids, [IGNORE_INDEX] * len(prompt_ids) + output_ids


def build_samples(rows, task_type, dataset_type, tokenizer, seq_len):
    """All usable (input_ids, labels) samples of the test rows, after the drop rules."""
    samples = []
    if task_type == "ChatTask":
        template = chat.resolve_template(dataset_type.get("chat_template"), tokenizer)
        for row in rows:
            turns = chat.conversation_turns(row, dataset_type)
            if turns is not None:
                samples.append(chat.tokenize_conversation(turns, tokenizer, template))
    else:
        samples = [instruct_sample(row, dataset_type, tokenizer, seq_len) for row in rows]
    return [s for s in samples if _usable(s, seq_len)]


def _usable(sample, seq_len):
    ids, labels = sample
    if not MIN_SAMPLE_LEN <= len(ids) <= seq_len:
        return False
    # The first label is never predicted (shift by one); a sample needs a labelled target after it.
    return any(label != IGNORE_INDEX for label in labels[1:])


def sample_loss(model, ids, labels):
    """The HF causal-LM loss of one sample: mean cross-entropy over labelled shifted positions."""
    import torch
    import torch.nn.functional as F

    device = input_device(model)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=device)).logits[0].float()
    targets = torch.tensor(labels[1:], device=logits.device)
    return F.cross_entropy(logits[:-1], targets, ignore_index=IGNORE_INDEX).item()


def mean_loss(model, samples):
    losses = [sample_loss(model, ids, labels) for ids, labels in samples]
    return sum(losses) / len(losses)


def evaluate(args):
    """Score the submitted model on the test rows; the JSON object for the last stdout line."""
    check_output_dir(args.trained_model_path)  # fail fast, before the slow loads
    rows = read_rows(args.dataset)
    tokenizer = load_tokenizer(args.base_model_path)
    model, why_not = load_trained_model(args.base_model_path, args.trained_model_path, tokenizer)
    seq_len = sequence_length(max_positions(model))
    samples = build_samples(rows, args.task_type, args.dataset_type, tokenizer, seq_len)
    if not samples:
        raise SubmissionError(
            f"no test sample can be scored: every one is longer than seq_len {seq_len} "
            f"(half the model's max_position_embeddings {max_positions(model)}) or has no output tokens"
        )
    return {
        "test_loss": mean_loss(model, samples),
        **finetune_fields(why_not),
        "model_params_count": count_params(args.base_model_path),
    }
