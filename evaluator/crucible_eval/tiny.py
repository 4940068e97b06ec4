"""The tiny world: a complete content directory built locally in seconds, with nothing downloaded.

`python3 -m crucible_eval.tiny --out DIR [--seed N]` writes two tiny Llama text models of different
sizes (one word-level tokenizer covering every dataset word), a tiny SDXL and a tiny Flux pipeline,
a dataset for every task type, pure-Python reward functions and a `content.json` with the real
parameter counts. The same seed gives the same files.

The datasets have learnable structure so that a short fine-tuning run on CPU clearly lowers the
test loss: arithmetic on number words and templated facts drawn once per seed ("where does anna
live" → "anna lives in oslo", the same answer in every row that asks). DPO prefers the correct
answer to a wrong one; chat asks the same questions in conversations; GRPO reuses the instructions.
The image task's pictures and the pipelines' VAEs come from `tiny_pictures` (a red square on blue at
32 px, the pipelines' declared `resolution`).
"""

import argparse
import json
import random
import sys
from pathlib import Path

from . import tiny_diffusion, tiny_pictures, tiny_text

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen").split()
NAMES = "anna boris clara dmitri elena felix greta hugo irina jonas katya lars mila nils olga pavel".split()
CITIES = "oslo paris rome lima cairo tokyo delhi quito".split()
COLOURS = "red blue green yellow purple orange black white".split()
ROWS_PER_DATASET = 2400
IMAGE_PAIRS = 20
CONTEXTS = (None, "", "answer in a few words", "think before you answer")
# Text the evaluator or trainers may wrap around the data (chatml turns, the GRPO answer format,
# reasoning words the keyword reward counts); its words join the vocabulary so none is <unk>.
TEMPLATE_TEXT = ("<|im_start|>system user assistant<|im_end|> <think> </think> <answer> </answer> "
                 "because therefore so first then finally if however consider")

REWARD_FUNCTIONS = {
    "length-long": '''def reward_length_long(completions, **kwargs):
    """Longer completions score higher: one point per character."""
    return [float(len(text)) for text in completions]
''',
    "length-short": '''def reward_length_short(completions, **kwargs):
    """Shorter completions score higher: minus one point per character."""
    return [-float(len(text)) for text in completions]
''',
    "word-count-12": '''def reward_word_count(completions, **kwargs):
    """Completions of about twelve words score highest."""
    return [-abs(12 - len(text.split())) for text in completions]
''',
    "unique-words-high": '''def reward_unique_words(completions, **kwargs):
    """The share of distinct words; an empty completion scores 0."""
    scores = []
    for text in completions:
        words = text.split()
        scores.append(len(set(words)) / len(words) if words else 0.0)
    return scores
''',
    "think-answer-format": '''def reward_think_answer(completions, **kwargs):
    """1 for exactly <think>...</think><answer>...</answer>, else 0."""
    import re
    pattern = re.compile(r"^<think>.*?</think><answer>.*?</answer>$", re.DOTALL)
    return [1.0 if pattern.match(text) else 0.0 for text in completions]
''',
    "reasoning-keywords": '''def reward_reasoning_keywords(completions, **kwargs):
    """How many reasoning words the completion uses."""
    keywords = ("because", "therefore", "so", "first", "then", "finally", "if", "however", "consider")
    return [float(sum(word in keywords for word in text.lower().split())) for text in completions]
''',
}


def facts_for(rng):
    """Each name's city and colour, fixed for the seed: the learnable part of the fact questions."""
    return {name: (rng.choice(CITIES), rng.choice(COLOURS)) for name in NAMES}


def question(rng, facts):
    """(question, correct answer, a wrong answer of the same form)."""
    kind = rng.randrange(4)
    if kind < 2:
        a, b = rng.randrange(10), rng.randrange(10)
        if kind == 0:
            right, wrong = a + b, (a + b + rng.randrange(1, 9)) % 19
            return f"what is {NUMBER_WORDS[a]} plus {NUMBER_WORDS[b]}", NUMBER_WORDS[right], NUMBER_WORDS[wrong]
        a, b = max(a, b), min(a, b)
        right, wrong = a - b, (a - b + rng.randrange(1, 9)) % 10
        return f"what is {NUMBER_WORDS[a]} minus {NUMBER_WORDS[b]}", NUMBER_WORDS[right], NUMBER_WORDS[wrong]
    name = rng.choice(NAMES)
    city, colour = facts[name]
    if kind == 2:
        wrong = rng.choice([c for c in CITIES if c != city])
        return f"where does {name} live", f"{name} lives in {city}", f"{name} lives in {wrong}"
    wrong = rng.choice([c for c in COLOURS if c != colour])
    return f"which colour does {name} like", f"{name} likes {colour}", f"{name} likes {wrong}"


def text_datasets(seed):
    """{file name: rows} for the instruct, DPO and chat datasets."""
    rng = random.Random(seed)
    facts = facts_for(rng)
    instruct, dpo, chat = [], [], []
    for index in range(ROWS_PER_DATASET):
        asked, right, _ = question(rng, facts)
        instruct.append({"id": index, "question": asked, "context": rng.choice(CONTEXTS), "answer": right})
        asked, right, wrong = question(rng, facts)
        dpo.append({"query": asked, "good": right, "bad": wrong})
        turns = []
        for _ in range(rng.choice((1, 2))):
            asked, right, _ = question(rng, facts)
            turns += [{"from": "user", "value": asked}, {"from": "assistant", "value": right}]
        chat.append({"conversations": turns})
    return {"instruct.json": instruct, "dpo.json": dpo, "chat.json": chat}


def vocabulary(datasets):
    """Every word of the datasets and of TEMPLATE_TEXT, split as the text tokenizer splits."""
    pre_tokenizer = tiny_text.build_tokenizer([]).pre_tokenizer
    texts = [TEMPLATE_TEXT, " ".join(NUMBER_WORDS + NAMES + CITIES + COLOURS)]
    for rows in datasets.values():
        for row in rows:
            for value in row.values():
                if isinstance(value, list):
                    texts += [message["value"] for message in value]
                elif isinstance(value, str):
                    texts.append(value)
    words = set()
    for text in texts:
        words.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(text))
    return sorted(words)


def write_world(out, seed=0):
    """Write the whole content directory to `out`; return the content.json document."""
    out = Path(out)
    datasets = text_datasets(seed)
    for name, rows in datasets.items():
        path = out / "datasets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=0))
    tiny_pictures.write_pictures(out / "datasets" / "images", IMAGE_PAIRS, seed)
    words = vocabulary(datasets)
    small = tiny_text.make_llama(out / "models" / "tiny--llama-small", words, hidden=64, layers=2, heads=2, seed=seed)
    large = tiny_text.make_llama(out / "models" / "tiny--llama-large", words, hidden=128, layers=2, heads=4, seed=seed)
    sdxl = tiny_diffusion.make_sdxl(out / "models" / "tiny--sdxl", seed=seed)
    flux = tiny_diffusion.make_flux(out / "models" / "tiny--flux", seed=seed)
    for name, model_type in (("tiny--sdxl", "sdxl"), ("tiny--flux", "flux")):
        tiny_pictures.teach_vae(out / "models" / name, model_type)
    content = {
        "models": [
            {"id": "tiny/llama-small", "path": "models/tiny--llama-small", "params": small},
            {"id": "tiny/llama-large", "path": "models/tiny--llama-large", "params": large},
            {"id": "tiny/sdxl", "path": "models/tiny--sdxl", "params": sdxl, "model_type": "sdxl",
             "resolution": tiny_pictures.SIDE},
            {"id": "tiny/flux", "path": "models/tiny--flux", "params": flux, "model_type": "flux",
             "resolution": tiny_pictures.SIDE},
        ],
        "datasets": [
            {"id": "tiny/instruct", "path": "datasets/instruct.json", "rows": len(datasets["instruct.json"]),
             "task_types": ["InstructTextTask", "GrpoTask"],
             "columns": {"field_instruction": "question", "field_input": "context", "field_output": "answer"}},
            {"id": "tiny/dpo", "path": "datasets/dpo.json", "rows": len(datasets["dpo.json"]),
             "task_types": ["DpoTask"],
             "columns": {"field_prompt": "query", "field_chosen": "good", "field_rejected": "bad"}},
            {"id": "tiny/chat", "path": "datasets/chat.json", "rows": len(datasets["chat.json"]),
             "task_types": ["ChatTask"],
             "columns": {"chat_column": "conversations", "chat_role_field": "from", "chat_content_field": "value",
                         "chat_user_reference": "user", "chat_assistant_reference": "assistant",
                         "chat_template": "chatml"}},
            {"id": "tiny/images", "path": "datasets/images", "rows": IMAGE_PAIRS, "task_types": ["ImageTask"]},
        ],
        "reward_functions": [{"reward_id": rid, "reward_func": src} for rid, src in REWARD_FUNCTIONS.items()],
    }
    (out / "content.json").write_text(json.dumps(content, indent=2) + "\n")
    return content


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m crucible_eval.tiny", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the content directory to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    content = write_world(args.out, args.seed)
    for model in content["models"]:
        print(f"tiny: {model['id']} ({model['params']} parameters) at {model['path']}")
    for dataset in content["datasets"]:
        print(f"tiny: {dataset['id']} ({dataset['rows']} rows) at {dataset['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
