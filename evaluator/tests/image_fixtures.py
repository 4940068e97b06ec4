"""Shared helpers for the image evaluator tests: test zips, namespaces and tiny-run settings."""

import argparse
import io
import zipfile

import numpy as np
from PIL import Image

# Small enough for CPU: 48 px long side, few sampler steps, one of the ten seeds (the aggregation
# over all ten is checked with a stand-in generator). The step counts are the smallest that keep
# img2img meaningful (SDXL runs 9 of 10 scheduled steps, Flux 3 of 4).
LONG_SIDE = 48
STEPS = {"sdxl": 9, "flux": 3}
SEEDS = (2746317213,)
CAPTIONS = ["a red photo of the sea", "blue and green image"]


def test_picture(index, width, height) -> Image.Image:
    """A deterministic picture with structure (gradients and a block) rather than pure noise."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x / width, y / height, np.full_like(x, index % 2, dtype=float)], axis=-1)
    pixels[height // 4 : height // 2, width // 3 : 2 * width // 3] = rng.random(3)
    return Image.fromarray((pixels * 255).astype(np.uint8))


def write_test_zip(path, sizes=((60, 50), (40, 64)), captions=CAPTIONS, stem="test_data"):
    """A test split in the reference's layout: `<stem>/<i>.png` + `<stem>/<i>.txt`."""
    with zipfile.ZipFile(path, "w") as archive:
        for index, ((width, height), caption) in enumerate(zip(sizes, captions)):
            buffer = io.BytesIO()
            test_picture(index, width, height).save(buffer, format="PNG")
            archive.writestr(f"{stem}/{index}.png", buffer.getvalue())
            archive.writestr(f"{stem}/{index}.txt", caption)
    return str(path)


def image_args(model_type, base_model_path, trained_model_path, dataset):
    """The argparse namespace `crucible_eval.image.evaluate` receives from the command line."""
    return argparse.Namespace(
        task_id="task-1",
        task_type="ImageTask",
        model=f"tiny/{model_type}",
        base_model_path=str(base_model_path),
        trained_model_path=str(trained_model_path),
        dataset=str(dataset),
        dataset_type=None,
        model_type=model_type,
    )


def single_thread_torch():
    """Tiny models on a shared 2-core box run far faster (and identically) on one torch thread."""
    import torch

    torch.set_num_threads(1)
