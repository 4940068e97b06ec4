"""GrpoTask: reward score of sampled completions, minus a KL penalty (evaluation.md §2.6).

1. Each reward function (Python source from the dataset type) is validated on the first 10 test rows,
   as the reference does: called on their prompts, it must return one number per prompt.
2. Every test prompt gets 2 sampled completions (TRL 0.17 `GRPOTrainer.evaluate` defaults): raw
   prompt text without special tokens or chat template, left-padded, its last 512 tokens; at most
   256 new tokens; temperature 0.9, top_k 50, top_p 1.0; seed 42; decoded with special tokens skipped.
   Batches hold 16 completions (8 prompts × 2), and reward functions are called per batch.
3. raw[f] = the mean of f's rewards over all completions. Weights are normalised to sum 1.
4. KL(base ‖ trained), teacher-forced on each prompt alone (default special tokens, first 512
   tokens, or ceil(max_pos/2) for short models): Σ_vocab p_base·(log p_base − log p_trained) per
   position, averaged over positions, then over prompts.
The provisional `test_loss` is Σ_f w_f·raw[f] − 0.5·KL; the validator normalises rewards across
repos later (§2.6 step 5). TRL's eval-loss term is left out (see README).
Reward functions run in `reward_sandbox`, never in this process.
"""

import math

from .loading import (BaseReference, check_output_dir, finetune_fields, input_device, load_tokenizer,
                      load_trained_model, max_positions, read_rows, text_of)
from .reward_sandbox import run_reward_function

KL_BETA = 0.5
NUM_GENERATIONS = 2
BATCH_COMPLETIONS = 16
MAX_PROMPT_TOKENS = 512
MAX_NEW_TOKENS = 256
TEMPERATURE = 0.9
TOP_K = 50
TOP_P = 1.0
SEED = 42
VALIDATION_ROWS = 10
KL_SEQUENCE_LENGTH = 512


def reward_specs(dataset_type):
    """[(reward_id, source, normalised weight)] in dataset-type order."""
    functions = dataset_type.get("reward_functions") or []
    if not functions:
        raise ValueError("GRPO dataset type has no reward_functions")
    weights = [float(f.get("reward_weight", 1.0)) for f in functions]
    total = sum(weights)
    if not all(math.isfinite(w) and w >= 0 for w in weights) or total <= 0:
        raise ValueError(f"GRPO reward weights must be non-negative with a positive sum, got {weights}")
    return [
        (str(f.get("reward_id") or f"reward_func_{i}"), f["reward_func"], w / total)
        for i, (f, w) in enumerate(zip(functions, weights))
    ]


def test_prompts(rows, dataset_type):
    """Prompts and, when the dataset type maps an extra column, its values (JSON strings parsed)."""
    import json

    prompt_column = dataset_type.get("field_prompt") or "prompt"
    if rows and not any(prompt_column in row for row in rows):
        raise ValueError(f"the GRPO test rows have no prompt column {prompt_column!r}")
    prompts = [text_of(row, prompt_column) for row in rows]
    extra_column = dataset_type.get("extra_column")
    if not extra_column or not any(extra_column in row for row in rows):
        return prompts, None
    extra = []
    for row in rows:
        value = row.get(extra_column)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        extra.append(value)
    return prompts, extra


def validate_reward_functions(specs, prompts, extra):
    """The reference's `validate_reward_function` on the first rows: prompts stand in for completions."""
    sample = prompts[:VALIDATION_ROWS]
    for reward_id, source, _ in specs:
        call = {"completions": sample, "kwargs": {}, "retry_without_kwargs": False}
        if extra is not None:
            call["extra_data_if_supported"] = extra[:VALIDATION_ROWS]
        run_reward_function(reward_id, source, [call], cpu_seconds=60, wall_seconds=120)


def generate_completions(model, tokenizer, prompts):
    """Two sampled completions per prompt, in prompt order ([p0, p0, p1, p1, ...]); seeded."""
    import torch
    from transformers import GenerationConfig, set_seed

    config = GenerationConfig(
        max_new_tokens=MAX_NEW_TOKENS, do_sample=True, temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P,
        repetition_penalty=1.0, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    set_seed(SEED)
    repeated = [p for p in prompts for _ in range(NUM_GENERATIONS)]
    completions = []
    for start in range(0, len(repeated), BATCH_COMPLETIONS):
        ids, mask = _left_padded(tokenizer, repeated[start : start + BATCH_COMPLETIONS])
        device = input_device(model)
        with torch.no_grad():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
        completions += tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    return completions


def _left_padded(tokenizer, texts):
    """TRL's prompt batch: no special tokens, last 512 tokens, left padding."""
    import torch

    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][-MAX_PROMPT_TOKENS:] for t in texts]
    # An empty prompt would give generate() nothing to condition on; it starts from BOS (or EOS).
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    rows = [r or [start] for r in rows]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def reward_means(specs, prompts, completions, extra):
    """raw[f]: each reward function's mean over all completions, called per batch of 16."""
    repeated = [p for p in prompts for _ in range(NUM_GENERATIONS)]
    repeated_extra = None if extra is None else [e for e in extra for _ in range(NUM_GENERATIONS)]
    calls = []
    for start in range(0, len(completions), BATCH_COMPLETIONS):
        window = slice(start, start + BATCH_COMPLETIONS)
        kwargs = {"prompts": repeated[window]}
        if repeated_extra is not None:
            kwargs["extra_data"] = repeated_extra[window]
        calls.append({"completions": completions[window], "kwargs": kwargs, "retry_without_kwargs": True})
    means = []
    for reward_id, source, _ in specs:
        rewards = [r for batch in run_reward_function(reward_id, source, calls) for r in batch]
        means.append(sum(rewards) / len(rewards))
    return means


def kl_divergence(reference, trained, tokenizer, prompts):
    """Mean over prompts of the per-position KL(base ‖ trained), averaged over positions.

    `reference` is a `BaseReference`: base logits come from it, trained logits from `trained`.
    """
    import torch.nn.functional as F

    limit = KL_SEQUENCE_LENGTH
    max_pos = max_positions(trained)
    if max_pos and max_pos < 2 * limit:
        limit = math.ceil(max_pos / 2)
    values = []
    for prompt in prompts:
        ids = tokenizer(prompt, truncation=True, max_length=limit, return_tensors="pt")["input_ids"]
        if ids.shape[1] == 0:
            continue  # the reference skips prompts it cannot run
        base_logits = reference.run(_logits, ids)
        trained_logp = F.log_softmax(_logits(trained, ids).to(base_logits.device), dim=-1)
        kl = F.kl_div(trained_logp, F.softmax(base_logits, dim=-1), reduction="none")
        values.append(kl.sum(dim=-1).mean().item())
    if not values:
        raise ValueError("no GRPO test prompt could be used for the KL divergence")
    return sum(values) / len(values)


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids.to(input_device(model))).logits.float()


def evaluate(args):
    """Score the submitted model on the test prompts; the JSON object for the last stdout line."""
    check_output_dir(args.trained_model_path)  # fail fast, before the slow loads
    rows = read_rows(args.dataset)
    if not rows:
        raise ValueError(f"{args.dataset}: the GRPO test split has no rows")
    specs = reward_specs(args.dataset_type)
    prompts, extra = test_prompts(rows, args.dataset_type)
    validate_reward_functions(specs, prompts, extra)
    tokenizer = load_tokenizer(args.base_model_path)
    model, why_not = load_trained_model(args.base_model_path, args.trained_model_path, tokenizer)
    completions = generate_completions(model, tokenizer, prompts)
    rewards = reward_means(specs, prompts, completions, extra)
    kl = kl_divergence(BaseReference(model, args.base_model_path), model, tokenizer, prompts)
    weights = [w for _, _, w in specs]
    return {
        "test_loss": sum(w * r for w, r in zip(weights, rewards)) - KL_BETA * kl,
        **finetune_fields(why_not),
        "rewards": rewards,
        "reward_weights": weights,
        "kl_divergence": kl,
    }
