"""The training zip: image/caption pairs, resized the way the evaluator resizes its test images.

The validator's zip holds `train_data/<i>.png` + `train_data/<i>.txt` (evaluation.md §1.4); this
reader accepts those pairs in any folder and in the common image formats, and skips an image
without a caption as the reference does. Each image is resized so that its long side is
`resolution` (LANCZOS) and centre-cropped to multiples of `multiple`: the evaluator does the same
with 1024 and 8, so the model trains at the size and aspect ratio it is tested at.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class DatasetError(ValueError):
    """The training zip is missing, unreadable or holds no captioned image."""


@dataclasses.dataclass(frozen=True)
class TrainImage:
    name: str
    # float32, 3 x H x W, in [-1, 1]: what the VAE encoder takes.
    pixels: np.ndarray
    caption: str


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def resize(image: Image.Image, resolution: int, multiple: int) -> Image.Image:
    """Long side to `resolution`, then centre-cropped to sides divisible by `multiple` (RGB)."""
    width, height = image.size
    if width > height:
        new_width, new_height = resolution, int(height / width * resolution)
    else:
        new_width, new_height = int(width / height * resolution), resolution
    image = image.convert("RGB").resize((max(1, new_width), max(1, new_height)), Image.Resampling.LANCZOS)
    crop_width = max(multiple, new_width // multiple * multiple)
    crop_height = max(multiple, new_height // multiple * multiple)
    left, top = (new_width - crop_width) // 2, (new_height - crop_height) // 2
    return image.crop((left, top, left + crop_width, top + crop_height))


def to_pixels(image: Image.Image) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def load_zip(path: Path, resolution: int, multiple: int) -> list[TrainImage]:
    """The captioned images of the zip at `path`, resized; DatasetError if there are none."""
    if not path.is_file():
        raise DatasetError(f"the training zip is not at {path}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DatasetError(f"{path} is not a zip file: {e}") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        captions = {
            os.path.splitext(n)[0]: archive.read(n).decode("utf-8", errors="replace").strip()
            for n in names
            if n.lower().endswith(".txt")
        }
        images = []
        for name in sorted(names, key=_natural_key):
            stem, extension = os.path.splitext(name)
            if extension.lower() not in IMAGE_EXTENSIONS or stem not in captions:
                continue
            try:
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    picture = resize(image, resolution, multiple)
            except (OSError, ValueError) as e:
                # One unreadable picture should not cost the whole task.
                print(f"[image-trainer] skipping {name}: {e}", flush=True)
                continue
            images.append(TrainImage(name, to_pixels(picture), captions[stem]))
    if not images:
        raise DatasetError(
            f"{path} holds no captioned image: expected pairs like train_data/0.png + train_data/0.txt"
        )
    return images
