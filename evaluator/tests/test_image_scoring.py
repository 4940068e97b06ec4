"""The image aggregation, resize, seeds and sampler plan, checked by hand without any model."""

import random

import numpy as np
import pytest
from PIL import Image

from crucible_eval.errors import SubmissionError
from crucible_eval.image_pipelines import (
    flux_strength,
    img2img_plan,
    pad_to_multiple,
    sdxl_strength,
    to_uint8,
)
from crucible_eval.image_scoring import (
    SEEDS,
    HeldOutImage,
    adjust_image_size,
    derive_seeds,
    reconstruction_loss,
    score_images,
)


def solid(value, width=4, height=2):
    return Image.new("RGB", (width, height), (value, value, value))


def test_seeds_are_the_reference_ones_from_seed_42():
    random.seed(42)
    drawn = tuple(random.randint(0, 2**32 - 1) for _ in range(10))
    assert drawn == SEEDS == derive_seeds()
    assert SEEDS[0] == 2746317213 and SEEDS[-1] == 2530876844


@pytest.mark.parametrize(
    "size, long_side, expected",
    [
        ((2000, 1000), 1024, (1024, 512)),
        ((1000, 1500), 1024, (680, 1024)),  # int(0.666 x 1024) = 682, cropped to 680
        ((300, 300), 1024, (1024, 1024)),
        ((60, 50), 48, (48, 40)),
        ((50, 70), 48, (32, 48)),  # int(50/70 x 48) = 34 -> 32
    ],
)
def test_resize_sets_long_side_and_crops_to_multiples_of_8(size, long_side, expected):
    image = adjust_image_size(Image.new("RGBA", size, (10, 20, 30, 40)), long_side)
    assert image.size == expected
    assert image.mode == "RGB"


def test_crop_is_centred():
    # 50 x 36 at long side 50 stays 50 x 36, then crops to 48 x 32: one column and two rows each side.
    pixels = np.zeros((36, 50, 3), dtype=np.uint8)
    pixels[2:34, 1:49] = 255
    cropped = np.asarray(adjust_image_size(Image.fromarray(pixels), 50))
    assert cropped.shape == (32, 48, 3)
    assert cropped.min() > 200


def test_loss_is_mean_squared_error_over_rgb_in_unit_range():
    assert reconstruction_loss(solid(0), solid(255)) == pytest.approx(1.0)
    assert reconstruction_loss(solid(51), np.full((2, 4, 3), 102, dtype=np.uint8)) == pytest.approx(0.04)
    half = np.asarray(solid(0)).copy()
    half[:, :2] = 255  # half the pixels off by 1.0
    assert reconstruction_loss(solid(0), half) == pytest.approx(0.5)


def test_loss_rejects_a_generated_image_of_another_size():
    with pytest.raises(SubmissionError, match="4x2"):
        reconstruction_loss(solid(0), solid(0, width=8))


def test_aggregation_matches_a_hand_computation():
    # The stand-in returns grey level g, so each loss is ((ref - g)/255)^2 with a black reference.
    # Captioned runs: g = 51 (loss 0.04) for the first seed and 102 (0.16) for the second; uncaptioned
    # runs: g = 0 (loss 0). Image "b" is white: uncaptioned loss 1, captioned 0.64 and 0.36.
    def generate(image, prompt, seed):
        level = {1: 51, 2: 102}[seed] if prompt else 0
        return solid(level)

    tests = [HeldOutImage("a", solid(0), "a cat"), HeldOutImage("b", solid(255), "a dog")]
    result = score_images(tests, generate, seeds=(1, 2))
    text_guided = np.mean([np.mean([0.04, 0.16]), np.mean([0.64, 0.36])])
    no_text = np.mean([0.0, 1.0])
    assert result["text_guided_loss"] == pytest.approx(text_guided)
    assert result["no_text_loss"] == pytest.approx(no_text)
    assert result["test_loss"] == pytest.approx(0.25 * text_guided + 0.75 * no_text)
    assert result["is_finetune"] is True
    assert set(result) == {"test_loss", "text_guided_loss", "no_text_loss", "is_finetune"}


def test_each_image_runs_every_seed_with_caption_and_with_empty_prompt():
    calls = []

    def generate(image, prompt, seed):
        calls.append((prompt, seed))
        return image

    result = score_images([HeldOutImage("a", solid(9), "a cat")], generate)
    assert sorted(calls) == sorted([("a cat", s) for s in SEEDS] + [("", s) for s in SEEDS])
    assert result["test_loss"] == 0.0


def test_empty_test_set_is_an_evaluator_error_not_the_miners():
    with pytest.raises(ValueError):
        score_images([], lambda image, prompt, seed: image)


def test_non_finite_pixels_fail_the_submission():
    with pytest.raises(SubmissionError, match="NaN"):
        to_uint8(np.array([[[0.5, np.nan, 0.1]]]))
    assert to_uint8(np.array([[[0.0, 0.999, 1.5]]])).tolist() == [[[0, 254, 255]]]


def test_padding_repeats_edges_to_the_multiple():
    image = Image.fromarray(np.arange(5 * 3 * 3, dtype=np.uint8).reshape(3, 5, 3))
    padded = np.asarray(pad_to_multiple(image, 4))
    assert padded.shape == (4, 8, 3)
    assert (padded[:3, :5] == np.asarray(image)).all()
    assert (padded[3] == padded[2]).all() and (padded[:, 7] == padded[:, 4]).all()
    assert pad_to_multiple(image.crop((0, 0, 4, 2)), 2).size == (4, 2)


@pytest.mark.parametrize(
    "steps, denoise, plan",
    [(20, 0.9, (22, 20)), (35, 0.75, (46, 35)), (9, 0.9, (10, 9)), (3, 0.75, (4, 3)), (5, 1.0, (5, 5))],
)
def test_plan_follows_comfyui_denoise(steps, denoise, plan):
    assert img2img_plan(steps, denoise) == plan


@pytest.mark.parametrize("steps, denoise", [(s, d) for s in range(1, 60) for d in (0.9, 0.75, 0.5, 1.0)])
def test_strengths_make_diffusers_run_exactly_the_planned_steps(steps, denoise):
    total, run = img2img_plan(steps, denoise)
    # diffusers' get_timesteps, SDXL img2img and Flux img2img respectively (diffusers 0.33).
    sdxl_start = max(total - min(int(total * sdxl_strength(total, run)), total), 0)
    flux_start = int(max(total - min(total * flux_strength(total, run), total), 0))
    assert total - sdxl_start == run
    assert total - flux_start == run
