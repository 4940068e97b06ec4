"""Tiny tokenizers for the tiny diffusion pipelines (see tiny_diffusion.py).

The real pipelines use CLIP's byte-level BPE tokenizer and T5's SentencePiece tokenizer. These are
the same tokenizer classes over a vocabulary of about a hundred pieces, built locally:
* `clip_tokenizer`: a `CLIPTokenizer` over single characters (each also in its end-of-word form
  `x</w>`) plus a few merges, with CLIP's start/end tokens last, as in the real vocabulary.
* `t5_tokenizer`: a `T5TokenizerFast` over a `tokenizers` Unigram model with T5's special tokens
  (<pad> 0, </s> 1, <unk> 2) and no sentinel tokens.
Characters outside the vocabulary become the unknown token, which is all a random model needs.
"""

import json
import os
import string
import tempfile

CLIP_MAX_LENGTH = 77
T5_MAX_LENGTH = 512
CHARACTERS = string.ascii_lowercase + string.digits + ".,!?'-"
# (left, right) pairs; each merged piece is added to the vocabulary.
CLIP_MERGES = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("i", "n"), ("o", "f</w>")]
T5_WORDS = ["the", "a", "of", "and", "in", "photo", "image", "red", "blue", "green"]


def clip_vocab():
    """Token -> id: characters, their end-of-word forms, merged pieces, then start/end tokens."""
    pieces = list(CHARACTERS) + [c + "</w>" for c in CHARACTERS]
    pieces += [left + right for left, right in CLIP_MERGES]
    pieces += ["<|startoftext|>", "<|endoftext|>"]
    return {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}


def clip_tokenizer():
    """A `CLIPTokenizer` over `clip_vocab()`; pads with the end token to 77 like SDXL's first tokenizer."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as folder:
        vocab_file = os.path.join(folder, "vocab.json")
        merges_file = os.path.join(folder, "merges.txt")
        with open(vocab_file, "w", encoding="utf-8") as handle:
            json.dump(clip_vocab(), handle)
        with open(merges_file, "w", encoding="utf-8") as handle:
            handle.write("#version: 0.2\n")
            handle.writelines(f"{left} {right}\n" for left, right in CLIP_MERGES)
        return CLIPTokenizer(
            vocab_file,
            merges_file,
            unk_token="<|endoftext|>",
            bos_token="<|startoftext|>",
            eos_token="<|endoftext|>",
            pad_token="<|endoftext|>",
            model_max_length=CLIP_MAX_LENGTH,
        )


def t5_tokenizer():
    """A `T5TokenizerFast` (Unigram, Metaspace pre-tokenizer, `</s>` appended) with ~90 pieces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    characters = CHARACTERS + string.ascii_uppercase
    pieces = [("\u2581", -2.0)] + [(c, -4.0) for c in characters]
    pieces += [("\u2581" + word, -3.0) for word in T5_WORDS]
    tokenizer = Tokenizer(models.Unigram(specials + pieces, unk_id=2, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return T5TokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_ids=0,
        model_max_length=T5_MAX_LENGTH,
    )
