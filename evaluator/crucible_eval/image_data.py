"""Inputs of an image evaluation: the test zip and the submitted LoRA file.

* `load_test_zip` reads the held-out split (entries `<stem>/<i>.png` + `<stem>/<i>.txt`, evaluation.md
  §1.4) in memory, without extracting it, and resizes each image as the reference does. A bad zip is
  the validator's own data, so it raises ordinary errors (exit 1), not `SubmissionError`.
* `find_lora_file` picks the LoRA in the miner's output as evaluation.md §2.2 and §3 describe:
  a file named `…last.safetensors`, else the largest N of `…last-N.safetensors`, searched recursively
  (the reference looks under `checkpoints/`, so files there win ties). `check_lora_file` rejects a
  file that is not readable safetensors before diffusers sees it.
"""

import io
import os
import re
import zipfile

from PIL import Image

from crucible_eval.errors import SubmissionError
from crucible_eval.image_scoring import DEFAULT_LONG_SIDE, HeldOutImage, adjust_image_size

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
LORA_NAME = "last.safetensors"
EPOCH_LORA = re.compile(r"last-(\d+)\.safetensors$")
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin", ".pkl")


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def load_test_zip(path, long_side: int = DEFAULT_LONG_SIDE) -> list[HeldOutImage]:
    """The test images with captions, resized to `long_side`; images without a caption are skipped."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        captions = {
            os.path.splitext(n)[0]: archive.read(n).decode("utf-8")
            for n in names
            if n.lower().endswith(".txt")
        }
        tests = []
        for name in sorted(names, key=_natural_key):
            stem, extension = os.path.splitext(name)
            if extension.lower() not in IMAGE_EXTENSIONS or stem not in captions:
                continue
            with Image.open(io.BytesIO(archive.read(name))) as image:
                image.load()
                tests.append(HeldOutImage(name, adjust_image_size(image, long_side), captions[stem]))
    if not tests:
        raise ValueError(f"test dataset {path} holds no image with a caption (<i>.png + <i>.txt)")
    return tests


def _preference(relative_path):
    """Sort key: files under checkpoint*/ first (where the reference looks), then shallower, then by name."""
    return (not relative_path.startswith("checkpoint"), relative_path.count("/"), relative_path)


def _files_under(root):
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found, key=_preference)


def find_lora_file(output_dir) -> str:
    """Absolute path of the LoRA to evaluate in `output_dir`, or SubmissionError saying what is missing."""
    if not os.path.isdir(output_dir):
        raise SubmissionError(f"no output directory at {output_dir}: the training wrote nothing")
    files = _files_under(output_dir)
    named = [f for f in files if os.path.basename(f).endswith(LORA_NAME)]
    if named:
        return os.path.join(output_dir, named[0])
    epochs = [(int(m.group(1)), f) for f in files if (m := EPOCH_LORA.search(os.path.basename(f)))]
    if epochs:
        best = max(epoch for epoch, _ in epochs)
        return os.path.join(output_dir, next(f for epoch, f in epochs if epoch == best))
    pickles = [f for f in files if f.lower().endswith(PICKLE_EXTENSIONS)]
    if pickles:
        raise SubmissionError(
            f"no {LORA_NAME} in the output, only pickle checkpoints ({', '.join(pickles[:3])}); "
            f"save the LoRA as safetensors named {LORA_NAME}, e.g. checkpoints/{LORA_NAME}"
        )
    listing = ", ".join(files[:5]) if files else "the directory is empty"
    raise SubmissionError(
        f"no LoRA file in the output: expected checkpoints/{LORA_NAME} (or last-N.safetensors) "
        f"anywhere under the output directory; found {listing}"
    )


def check_lora_file(path, output_dir) -> list[str]:
    """The tensor names of the safetensors file at `path`; SubmissionError if it is unreadable or empty."""
    from safetensors import safe_open

    shown = os.path.relpath(path, output_dir)
    try:
        with safe_open(path, framework="pt") as handle:
            keys = list(handle.keys())
    except Exception as error:  # safetensors raises its own error types and OSError alike
        raise SubmissionError(f"{shown} is not a valid safetensors file ({error})") from error
    if not keys:
        raise SubmissionError(f"{shown} holds no tensors")
    return keys
