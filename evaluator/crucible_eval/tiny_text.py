"""Tiny text models for tests and for the offline test world.

`make_llama` writes a randomly initialised `LlamaForCausalLM` and a fast WordLevel tokenizer in the
Hugging Face layout (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
special_tokens_map.json, generation_config.json), loadable offline by `AutoModelForCausalLM` and
`AutoTokenizer`. It never downloads anything; everything is built locally from the given words.
"""

import json
import os

from .chat import CHATML_TEMPLATE

# Role names the chat template emits; always in the vocabulary so a templated conversation never
# tokenizes to <unk>.
TEMPLATE_WORDS = ["system", "user", "assistant"]
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
# ChatML turn markers, added as special tokens so they stay single tokens.
CHAT_MARKERS = ["<|im_start|>", "<|im_end|>"]


def build_tokenizer(words):
    """A `tokenizers.Tokenizer`: WordLevel over specials, ChatML markers, role names and `words`."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {}
    for token in SPECIAL_TOKENS + CHAT_MARKERS + TEMPLATE_WORDS + list(words):
        if token not in vocab:
            vocab[token] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in SPECIAL_TOKENS + CHAT_MARKERS])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    # WordLevel has no spacing information; joining words with spaces is the closest decode.
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return tokenizer


def save_tokenizer(tokenizer, out_dir, model_max_length):
    """Save `tokenizer` as a `PreTrainedTokenizerFast` folder that AutoTokenizer loads offline."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=CHAT_MARKERS,
        model_max_length=model_max_length,
        # Llama takes no token_type_ids; returning them would break `model(**batch)`.
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def make_llama(out_dir, words, *, hidden=64, layers=2, heads=2, seed=0, max_position_embeddings=256):
    """Write a random tiny Llama plus its tokenizer to `out_dir`; return the parameter count."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    os.makedirs(out_dir, exist_ok=True)
    tokenizer = build_tokenizer(words)
    fast = save_tokenizer(tokenizer, out_dir, max_position_embeddings)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    return sum(p.numel() for p in model.parameters())


def main():
    """`python3 -m crucible_eval.tiny_text OUT_DIR WORD...`: write a tiny Llama, print its size."""
    import sys

    if len(sys.argv) < 3:
        sys.exit("usage: python3 -m crucible_eval.tiny_text OUT_DIR WORD...")
    params = make_llama(sys.argv[1], sys.argv[2:])
    print(json.dumps({"path": sys.argv[1], "params": params}))


if __name__ == "__main__":
    main()
