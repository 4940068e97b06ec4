"""A tiny image world for the image trainer's tests: pipelines, pictures and zips.

The pipelines are the evaluator's own tiny random SDXL and Flux (crucible_eval.tiny_diffusion), so
the trainer is tested against exactly what the evaluator loads. The pictures come from one simple
distribution (a solid background with one solid square, colours from a small palette, captioned
"a <colour> square on <colour>"), so images held out for scoring are of the same kind as the ones
trained on. Everything is seeded and built locally.

The evaluator is found at $CRUCIBLE_EVALUATOR (mount evaluator/ there in the container), else at
../../evaluator from this repository (the crucible source tree).
"""

from __future__ import annotations

import functools
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

PALETTE = {"red": (220, 40, 30), "green": (40, 190, 60), "blue": (30, 60, 210), "yellow": (230, 210, 40)}
# The world the tests train and score on: one subject in one style, like a real image task's
# dataset. The evaluator's img2img starts from mostly noise, so its loss rewards a model whose
# samples look like the test images; that is only measurable when the images resemble each other.
BACKS, FRONTS = ("blue",), ("red",)
ALL = tuple(PALETTE)
# tests/ -> examples/trainer -> examples -> the crucible source tree, which holds evaluator/.
_TREE = Path(__file__).resolve().parents
EVALUATOR = Path(os.environ.get("CRUCIBLE_EVALUATOR") or (_TREE[3] if len(_TREE) > 3 else _TREE[-1]) / "evaluator")


def evaluator_available() -> bool:
    return (EVALUATOR / "crucible_eval" / "tiny_diffusion.py").is_file()


def import_evaluator():
    """Puts the evaluator package on the path; returns its tiny_diffusion module."""
    if str(EVALUATOR) not in sys.path:
        sys.path.insert(0, str(EVALUATOR))
    from crucible_eval import tiny_diffusion

    return tiny_diffusion


def picture(rng: np.random.Generator, width: int = 32, height: int = 32, backs=BACKS, fronts=FRONTS):
    """One picture of the world and its caption: (PIL image, "a <front> square on <back>")."""
    back = backs[int(rng.integers(len(backs)))]
    choices = [name for name in fronts if name != back]
    front = choices[int(rng.integers(len(choices)))]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = PALETTE[back]
    side = int(rng.integers(min(width, height) // 3, min(width, height) // 2 + 1))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    pixels[top : top + side, left : left + side] = PALETTE[front]
    return Image.fromarray(pixels), f"a {front} square on {back}"


def write_zip(path: Path, count: int, seed: int, stem: str, sizes=((32, 32),), backs=BACKS, fronts=FRONTS) -> Path:
    """`count` pictures as `<stem>/<i>.png` + `<stem>/<i>.txt`, sizes cycling through `sizes`."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            image, caption = picture(rng, *sizes[index % len(sizes)], backs=backs, fronts=fronts)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            archive.writestr(f"{stem}/{index}.png", buffer.getvalue())
            archive.writestr(f"{stem}/{index}.txt", caption)
    return path


def pixels(image: Image.Image):
    import torch

    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)


@functools.lru_cache(maxsize=None)
def world_vae_weights(side: int = 32, steps: int = 250, seed: int = 0) -> dict:
    """Weights of the tiny VAE (no quant convs) trained to reconstruct squares in every palette colour.

    A random VAE cannot reconstruct any picture, so no denoiser, trained or not, could lower the
    evaluator's pixel loss through it; a real base model's VAE reconstructs well. A few hundred
    steps give the tiny one that property. It learns all colour pairs, not only the test world's,
    as a real VAE is general: a VAE that could only draw the test world would make the untrained
    base look good. Cached: both pipelines share it.
    """
    import torch

    tiny_diffusion = import_evaluator()
    torch.manual_seed(seed)
    vae = tiny_diffusion._vae(latent_channels=4, quant_convs=False)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = torch.stack([pixels(picture(rng, side, side, ALL, ALL)[0]) for _ in range(8)])
        dist = vae.encode(batch).latent_dist
        decoded = vae.decode(dist.sample()).sample
        loss = ((decoded - batch) ** 2).mean() + 1e-6 * dist.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {name: tensor.detach().clone() for name, tensor in vae.state_dict().items()}


def make_base(model_type: str, out_dir: Path, side: int = 32) -> Path:
    """A tiny random pipeline of `model_type` whose VAE has learned this world (see world_vae_weights).

    For SDXL the quant convs become identities; the scaling (and for Flux the shift) factor is set
    so the VAE's latents have mean 0 and variance 1, as a real VAE's factors are chosen.
    """
    import torch
    from diffusers import AutoencoderKL

    tiny_diffusion = import_evaluator()
    maker = tiny_diffusion.make_sdxl if model_type == "sdxl" else tiny_diffusion.make_flux
    maker(str(out_dir), seed=0)
    vae = AutoencoderKL.from_pretrained(out_dir, subfolder="vae")
    vae.load_state_dict(world_vae_weights(side), strict=False)
    with torch.no_grad():
        if vae.quant_conv is not None:
            for conv in (vae.quant_conv, vae.post_quant_conv):
                conv.weight.copy_(torch.eye(conv.in_channels)[:, :, None, None])
                conv.bias.zero_()
        rng = np.random.default_rng(12345)
        batch = torch.stack([pixels(picture(rng, side, side, ALL, ALL)[0]) for _ in range(32)])
        latents = vae.encode(batch).latent_dist.mean
    shift = float(latents.mean()) if model_type == "flux" else None
    scale = 1.0 / float(latents.std())
    vae.register_to_config(scaling_factor=scale, shift_factor=shift)
    vae.save_pretrained(out_dir / "vae", safe_serialization=True)
    return out_dir
