"""DpoTask: the DPO sigmoid loss of the submitted model against the base model (evaluation.md §2.5).

As TRL 0.17's `DPOTrainer.evaluate` computes it for the reference (β 0.1, batch size 1):
* prompt, chosen and rejected are tokenised without special tokens; EOS is appended to chosen and
  rejected; the prompt keeps its last 512 tokens. No chat template, no system column, no formats.
* chosen and rejected are scored in one 2-row batch, each row prompt ++ completion, right-padded to
  the longer row; that batch keeps its last 1024 columns (`truncation_mode` keep_end), so both rows
  lose the same number of leading tokens, as in TRL.
* logp(x) = sum of the completion's token log-probabilities (TRL's roll-by-one labelling included).
* loss = −log σ(β·[(logπθ(c) − logπref(c)) − (logπθ(r) − logπref(r))]), averaged over rows.
The reference model is the task's base model; a model equal to it scores ln 2.
"""

import math

from .loading import (BaseReference, check_output_dir, count_params, finetune_fields, input_device,
                      load_tokenizer, load_trained_model, read_rows, text_of)

BETA = 0.1
MAX_PROMPT_LENGTH = 512
MAX_LENGTH = 1024


def tokenize_row(tokenizer, prompt, chosen, rejected):
    """TRL's `tokenize_row`: (prompt_ids, chosen_ids, rejected_ids)."""
    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prompt_ids = ids(prompt)[-MAX_PROMPT_LENGTH:]
    return prompt_ids, ids(chosen) + [tokenizer.eos_token_id], ids(rejected) + [tokenizer.eos_token_id]


def completion_logps(model, prompt_ids, chosen_ids, rejected_ids, pad_id):
    """Summed completion log-probabilities [logp(chosen), logp(rejected)], TRL's `concatenated_forward`."""
    import torch

    rows = [prompt_ids + chosen_ids, prompt_ids + rejected_ids]
    width = max(len(r) for r in rows)
    input_ids = torch.full((2, width), pad_id, dtype=torch.long)
    attention = torch.zeros((2, width), dtype=torch.long)
    loss_mask = torch.zeros((2, width), dtype=torch.bool)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
        loss_mask[i, len(prompt_ids) : len(row)] = True
    input_ids, attention, loss_mask = (t[:, -MAX_LENGTH:] for t in (input_ids, attention, loss_mask))

    device = input_device(model)
    with torch.no_grad():
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
    labels = torch.roll(input_ids, shifts=-1, dims=1).to(logits.device)
    loss_mask = torch.roll(loss_mask, shifts=-1, dims=1).to(logits.device)
    labels[~loss_mask] = 0
    per_token = torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(2)).squeeze(2)
    per_token[~loss_mask] = 0
    return per_token.sum(-1).tolist()


def row_loss(policy_logps, reference_logps):
    """−log σ(β·margin) for one row, computed stably."""
    margin = (policy_logps[0] - reference_logps[0]) - (policy_logps[1] - reference_logps[1])
    z = BETA * margin
    # −log σ(z) = log(1 + e^(−z)), written so neither branch overflows.
    return math.log1p(math.exp(-z)) if z >= 0 else -z + math.log1p(math.exp(z))


def dpo_loss(policy, reference, tokenizer, triples):
    """Mean DPO loss over (prompt, chosen, rejected) text triples."""
    losses = []
    for prompt, chosen, rejected in triples:
        ids = tokenize_row(tokenizer, prompt, chosen, rejected)
        policy_logps = completion_logps(policy, *ids, tokenizer.pad_token_id)
        reference_logps = reference.run(completion_logps, *ids, tokenizer.pad_token_id)
        losses.append(row_loss(policy_logps, reference_logps))
    return sum(losses) / len(losses)


def evaluate(args):
    """Score the submitted model on the test rows; the JSON object for the last stdout line."""
    check_output_dir(args.trained_model_path)  # fail fast, before the slow loads
    rows = read_rows(args.dataset)
    if not rows:
        raise ValueError(f"{args.dataset}: the DPO test split has no rows")
    dataset_type = args.dataset_type
    columns = [dataset_type.get(f"field_{name}") or name for name in ("prompt", "chosen", "rejected")]
    triples = [tuple(text_of(row, column) for column in columns) for row in rows]
    tokenizer = load_tokenizer(args.base_model_path)
    policy, why_not = load_trained_model(args.base_model_path, args.trained_model_path, tokenizer)
    reference = BaseReference(policy, args.base_model_path)
    return {
        "test_loss": dpo_loss(policy, reference, tokenizer, triples),
        **finetune_fields(why_not),
        "model_params_count": count_params(args.base_model_path),
    }
