"""The pictures of the tiny image world, and a VAE that can draw them.

The world is one simple distribution: a solid background with one solid square, colours from a
small palette, captioned "a <colour> square on <colour>". A task's pictures are one subject in one
style (a red square on blue), like a real image task's dataset: the evaluator's img2img starts from
mostly noise, so its loss rewards a model whose samples look like the test images, which is only
measurable when the images resemble each other.

A random VAE cannot reconstruct any picture, so no denoiser, trained or not, could lower the
evaluator's pixel loss through it; a real base model's VAE reconstructs well. `teach_vae` gives a
tiny pipeline's VAE that property with a few hundred steps on every colour pair (not only the task's,
as a real VAE is general: one that could only draw the task's pictures would make the untrained base
look good), and declares the world's side as the VAE's `sample_size`, its native resolution.
"""

import functools
import io
import json
import zipfile
from pathlib import Path

import numpy as np

PALETTE = {"red": (220, 40, 30), "green": (40, 190, 60), "blue": (30, 60, 210), "yellow": (230, 210, 40)}
BACKS, FRONTS = ("blue",), ("red",)
ALL = tuple(PALETTE)
# The side of the world's pictures and the native resolution of its pipelines.
SIDE = 32


def picture(rng, width=SIDE, height=SIDE, backs=BACKS, fronts=FRONTS):
    """One picture of the world and its caption: (PIL image, "a <front> square on <back>")."""
    from PIL import Image

    back = backs[int(rng.integers(len(backs)))]
    choices = [name for name in fronts if name != back]
    front = choices[int(rng.integers(len(choices)))]
    pixels_ = np.empty((height, width, 3), dtype=np.uint8)
    pixels_[:] = PALETTE[back]
    side = int(rng.integers(min(width, height) // 3, min(width, height) // 2 + 1))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    pixels_[top : top + side, left : left + side] = PALETTE[front]
    return Image.fromarray(pixels_), f"a {front} square on {back}"


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_pictures(folder, count, seed):
    """`count` pictures of the task's subject as `<i>.png` + `<i>.txt` in `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image, caption = picture(rng)
        (folder / f"{index}.png").write_bytes(png(image))
        (folder / f"{index}.txt").write_text(caption)


def write_zip(path, count, seed, stem, sizes=((SIDE, SIDE),), backs=BACKS, fronts=FRONTS):
    """`count` pictures as `<stem>/<i>.png` + `<stem>/<i>.txt`, sizes cycling through `sizes`."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            image, caption = picture(rng, *sizes[index % len(sizes)], backs=backs, fronts=fronts)
            archive.writestr(f"{stem}/{index}.png", png(image))
            archive.writestr(f"{stem}/{index}.txt", caption)
    return path


def pixels(image):
    """A PIL image as a (3, H, W) tensor in [-1, 1]."""
    import torch

    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)


@functools.lru_cache(maxsize=None)
def world_vae_weights(side=SIDE, steps=250, seed=0):
    """Weights of the tiny VAE (no quant convs) trained to reconstruct squares in every palette colour."""
    import torch

    from crucible_eval.tiny_diffusion import _vae

    torch.manual_seed(seed)
    vae = _vae(latent_channels=4, quant_convs=False)
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


def teach_vae(pipeline_dir, model_type, side=SIDE):
    """Gives the tiny pipeline at `pipeline_dir` a VAE that has learned the world (see above).

    For SDXL the quant convs become identities; the scaling (and for Flux the shift) factor is set so
    the VAE's latents have mean 0 and variance 1, as a real VAE's factors are chosen.
    """
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(pipeline_dir, subfolder="vae")
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
    vae.register_to_config(scaling_factor=scale, shift_factor=shift, sample_size=side)
    vae.save_pretrained(f"{pipeline_dir}/vae", safe_serialization=True)
    # from_pretrained recorded where it loaded from; the same seed must give the same files anywhere.
    config = Path(pipeline_dir) / "vae" / "config.json"
    values = json.loads(config.read_text())
    values.pop("_name_or_path", None)
    config.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
