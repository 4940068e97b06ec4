"""The image evaluator on a tiny random SDXL pipeline (see image_pipeline_contract.py)."""

import os

import numpy as np
from image_fixtures import LONG_SIDE, SEEDS, STEPS
from image_pipeline_contract import PipelineContract

from crucible_eval.image_data import load_test_zip
from crucible_eval.image_pipelines import load_generator


def to_kohya(diffusers_file, kohya_file, rank=4):
    """Rename a diffusers SDXL UNet LoRA to kohya's keys (lora_unet_<path_with_underscores>.lora_down...)."""
    import torch
    from safetensors.torch import load_file, save_file

    renamed = {}
    for key, tensor in load_file(diffusers_file).items():
        module, kind = key.removeprefix("unet.").split(".lora.")
        prefix = "lora_unet_" + module.replace(".", "_")
        renamed[f"{prefix}.lora_{kind}"] = tensor
        renamed[f"{prefix}.alpha"] = torch.tensor(float(rank))
    save_file(renamed, kohya_file)


class TestSdxlEvaluation(PipelineContract):
    model_type = "sdxl"

    def test_kohya_keys_load_and_generate_like_diffusers_keys(self, world):
        strong = world["outputs"]["strong"]
        kohya = world["root"] / "kohya"
        kohya.mkdir()
        to_kohya(os.path.join(strong, "checkpoints", "last.safetensors"), str(kohya / "last.safetensors"))
        image = load_test_zip(world["dataset"], LONG_SIDE)[0].image
        outputs = []
        for output in (strong, str(kohya)):
            lora = next(os.path.join(d, f) for d, _, fs in os.walk(output) for f in fs)
            generate = load_generator("sdxl", world["base"], lora, output, steps=STEPS["sdxl"])
            outputs.append(generate(image, "a photo", SEEDS[0]).astype(int))
        assert np.abs(outputs[0] - outputs[1]).max() <= 1
