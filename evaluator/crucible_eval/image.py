"""ImageTask evaluation: img2img reconstruction loss of a submitted LoRA (evaluation.md §2.7).

`evaluate(args)` finds the LoRA in the miner's output (image_data.py), loads the task's base
diffusers pipeline with it (image_pipelines.py), and scores the held-out images with the
reference's seeds and weights (image_scoring.py). It returns the contract's image object
{"test_loss", "text_guided_loss", "no_text_loss", "is_finetune": true} or raises SubmissionError
for a failure caused by the output. Lower is better.

The long side the test images are resized to is the reference's 1024, unless the task's content
declares its model's `resolution` (the tiny world's 32 px pipelines do): the download step then puts
{"long_side": N} beside the held-out zip (content.image_settings_name).

Two environment settings exist for tests and CPU runs only; a validator leaves both unset:
* CRUCIBLE_EVAL_IMAGE_SIDE: long side the test images are resized to, overriding the above.
* CRUCIBLE_EVAL_IMAGE_STEPS: sampler steps (default: the reference's, 20 for SDXL, 35 for Flux).
"""

import json
import os

from crucible_eval.content import image_settings_name
from crucible_eval.image_data import find_lora_file, load_test_zip
from crucible_eval.image_pipelines import load_generator
from crucible_eval.image_scoring import DEFAULT_LONG_SIDE, SEEDS, score_images

SIDE_ENV = "CRUCIBLE_EVAL_IMAGE_SIDE"
STEPS_ENV = "CRUCIBLE_EVAL_IMAGE_STEPS"


def _positive_int_env(name, default):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _declared_side(args):
    """The long side the task's content declares (a file beside the held-out zip), or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(args.dataset)), image_settings_name(args.task_id))
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        side = json.load(f).get("long_side")
    if not isinstance(side, int) or isinstance(side, bool) or side <= 0:
        raise ValueError(f"{path}: long_side must be a positive integer, got {side!r}")
    return side


def evaluate(args, *, long_side=None, steps=None, seeds=SEEDS) -> dict:
    """Score the LoRA in `args.trained_model_path` on the test zip `args.dataset`.

    `long_side` and `steps` default to the environment settings above, then to the reference's
    values; `seeds` exists so tests can shorten the run and is the reference's ten otherwise.
    """
    model_type = (args.model_type or "").lower()
    if model_type not in ("sdxl", "flux"):
        raise ValueError(f"ImageTask needs --model-type sdxl or flux, got {args.model_type!r}")
    long_side = long_side or _positive_int_env(SIDE_ENV, None) or _declared_side(args) or DEFAULT_LONG_SIDE
    steps = steps or _positive_int_env(STEPS_ENV, None)
    # Find the LoRA before the (slow) pipeline load, so a missing file fails fast.
    lora_path = find_lora_file(args.trained_model_path)
    tests = load_test_zip(args.dataset, long_side)
    generate = load_generator(
        model_type, args.base_model_path, lora_path, args.trained_model_path, steps=steps
    )
    return score_images(tests, generate, seeds)
