"""A tiny image world for the image trainer's tests: pipelines, pictures and zips.

The pipelines are the evaluator's own tiny random SDXL and Flux (crucible_eval.tiny_diffusion), and
the pictures and the VAE that knows them are the evaluator's tiny world (crucible_eval.tiny_pictures),
so the trainer is tested against exactly what the evaluator loads and what `crucible tasks tiny`
writes. Everything is seeded and built locally.

The evaluator is found at $CRUCIBLE_EVALUATOR (mount evaluator/ there in the container), else at
../../evaluator from this repository (the crucible source tree).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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


def write_zip(path: Path, count: int, seed: int, stem: str, **kwargs) -> Path:
    """`count` pictures of the world as `<stem>/<i>.png` + `<stem>/<i>.txt` (tiny_pictures.write_zip)."""
    import_evaluator()
    from crucible_eval import tiny_pictures

    return tiny_pictures.write_zip(path, count, seed, stem, **kwargs)


def make_base(model_type: str, out_dir: Path, side: int = 32) -> Path:
    """A tiny random pipeline of `model_type` whose VAE has learned the world."""
    tiny_diffusion = import_evaluator()
    from crucible_eval import tiny_pictures

    maker = tiny_diffusion.make_sdxl if model_type == "sdxl" else tiny_diffusion.make_flux
    maker(str(out_dir), seed=0)
    tiny_pictures.teach_vae(out_dir, model_type, side)
    return out_dir
