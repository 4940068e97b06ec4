"""Image reconstruction scoring (evaluation.md §2.7), independent of any diffusion model.

Owns the reference's fixed parts: the ten seeds, the test-image resize and crop, the pixel MSE, and
the aggregation (per image: mean over seeds, once with the caption and once with an empty prompt;
then 0.25 x mean(text-guided) + 0.75 x mean(no-text)). Generation is a callable
`generate(image, prompt, seed) -> image` supplied by the caller, so the same arithmetic scores the
real diffusers pipelines and a stand-in generator in tests. A stand-in does not give the
reference's values; only the arithmetic around it is the reference's.
"""

import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from crucible_eval.errors import SubmissionError

TEXT_GUIDED_WEIGHT = 0.25
NO_TEXT_WEIGHT = 0.75
DEFAULT_LONG_SIDE = 1024
# The reference seeds Python's `random` with 42 and draws ten values in [0, 2^32 - 1].
SEED_MASTER = 42
SEED_COUNT = 10
SEEDS = (
    2746317213, 1181241943, 958682846, 3163119785, 1812140441,
    127978094, 939042955, 2340505846, 946785248, 2530876844,
)  # fmt: skip


def derive_seeds(master=SEED_MASTER, count=SEED_COUNT):
    """The reference's derivation; a private `Random` gives the same values as the global one."""
    rng = random.Random(master)
    return tuple(rng.randint(0, 2**32 - 1) for _ in range(count))


if derive_seeds() != SEEDS:
    raise RuntimeError("random.seed(42) no longer yields the reference's ten evaluation seeds")

# generate(image, prompt, seed) returns the generated picture: a PIL image or an HxWx3 uint8 array.
Generate = Callable[[Image.Image, str, int], "Image.Image | np.ndarray"]


@dataclass(frozen=True)
class HeldOutImage:
    """One test pair: the resized, cropped RGB image and its caption."""

    name: str
    image: Image.Image
    caption: str


def adjust_image_size(image: Image.Image, long_side: int = DEFAULT_LONG_SIDE) -> Image.Image:
    """Resize so the long side is `long_side` (LANCZOS), then centre-crop both sides to multiples of 8.

    The short side becomes int(ratio x long_side), truncated as the reference does; the result is RGB.
    """
    width, height = image.size
    if width > height:
        new_width, new_height = long_side, int((height / width) * long_side)
    else:
        new_width, new_height = int((width / height) * long_side), long_side
    image = image.resize((new_width, new_height), Image.Resampling.LANCZOS)
    crop_width, crop_height = (new_width // 8) * 8, (new_height // 8) * 8
    left, top = (new_width - crop_width) // 2, (new_height - crop_height) // 2
    image = image.crop((left, top, left + crop_width, top + crop_height))
    # The reference resizes in the file's own mode and compares in RGB.
    return image.convert("RGB")


def as_rgb_array(picture) -> np.ndarray:
    """An HxWx3 uint8 array from a PIL image or array (uint8, or floats in [0, 1])."""
    if isinstance(picture, Image.Image):
        return np.asarray(picture.convert("RGB"))
    array = np.asarray(picture)
    if array.dtype != np.uint8:
        raise TypeError(f"generated image array must be uint8, got {array.dtype}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise TypeError(f"generated image array must be HxWx3, got shape {array.shape}")
    return array


def reconstruction_loss(reference: Image.Image, generated) -> float:
    """mean((x - y)^2) over all RGB values scaled to [0, 1]; sizes must match, as in the reference."""
    expected = as_rgb_array(reference).astype(np.float64) / 255.0
    actual = as_rgb_array(generated).astype(np.float64) / 255.0
    if expected.shape != actual.shape:
        raise SubmissionError(
            f"generated image is {actual.shape[1]}x{actual.shape[0]} but the test image is "
            f"{expected.shape[1]}x{expected.shape[0]}; img2img must keep the input size"
        )
    return float(np.mean((expected - actual) ** 2))


def image_losses(test: HeldOutImage, generate: Generate, seeds: Sequence[int] = SEEDS):
    """(text-guided, no-text) losses of one image, each the mean over `seeds`."""
    guided = [reconstruction_loss(test.image, generate(test.image, test.caption, s)) for s in seeds]
    unguided = [reconstruction_loss(test.image, generate(test.image, "", s)) for s in seeds]
    return float(np.mean(guided)), float(np.mean(unguided))


def score_images(tests: Sequence[HeldOutImage], generate: Generate, seeds: Sequence[int] = SEEDS):
    """The image result object of the evaluator contract.

    test_loss = 0.25 x mean over images of the text-guided loss + 0.75 x the same for no text.
    """
    if not tests:
        raise ValueError("the image test set is empty")
    per_image = [image_losses(test, generate, seeds) for test in tests]
    text_guided = float(np.mean([guided for guided, _ in per_image]))
    no_text = float(np.mean([unguided for _, unguided in per_image]))
    test_loss = TEXT_GUIDED_WEIGHT * text_guided + NO_TEXT_WEIGHT * no_text
    return {
        "test_loss": test_loss,
        "text_guided_loss": text_guided,
        "no_text_loss": no_text,
        "is_finetune": True,
    }
