"""End-to-end checks of the image evaluator on a tiny random pipeline, shared by SDXL and Flux.

test_image_sdxl.py and test_image_flux.py subclass `PipelineContract` and set `model_type`; each
builds its own tiny pipeline once per class.
"""

import math
import os

import pytest
from image_fixtures import LONG_SIDE, SEEDS, STEPS, image_args, single_thread_torch, write_test_zip
from PIL import Image

from crucible_eval import tiny_diffusion
from crucible_eval.errors import SubmissionError
from crucible_eval.image import SIDE_ENV, STEPS_ENV, evaluate
from crucible_eval.image_data import load_test_zip
from crucible_eval.image_pipelines import REFERENCE_SETTINGS, apply_lora, img2img_plan, load_generator
from crucible_eval.image_scoring import score_images

OTHER = {"sdxl": "flux", "flux": "sdxl"}
MAKERS = {"sdxl": tiny_diffusion.make_sdxl, "flux": tiny_diffusion.make_flux}


class PipelineContract:
    model_type = None

    @pytest.fixture(scope="class")
    def world(self, tmp_path_factory):
        """Base pipeline, a pipeline of the other type, the test zip and a few outputs."""
        single_thread_torch()
        root = tmp_path_factory.mktemp(f"image-{self.model_type}")
        base = str(root / "base")
        params = MAKERS[self.model_type](base, seed=0)
        other = str(root / "other")
        MAKERS[OTHER[self.model_type]](other, seed=1)
        outputs = {}
        for name, scale in (("zero", 0.0), ("strong", 0.5), ("nan", math.nan)):
            outputs[name] = str(root / name)
            tiny_diffusion.write_lora(
                base, self.model_type, root / name / "checkpoints" / "last.safetensors", scale=scale
            )
        outputs["other"] = str(root / "for-other")
        tiny_diffusion.write_lora(
            other, OTHER[self.model_type], root / "for-other" / "last.safetensors", scale=0.5
        )
        dataset = write_test_zip(root / "test_data.zip")
        return {"root": root, "base": base, "params": params, "outputs": outputs, "dataset": dataset}

    def args(self, world, output):
        return image_args(self.model_type, world["base"], output, world["dataset"])

    def run(self, world, output):
        return evaluate(self.args(world, output), long_side=LONG_SIDE, steps=STEPS[self.model_type], seeds=SEEDS)

    @pytest.fixture(scope="class")
    def zero_lora_result(self, world):
        # Through the documented environment settings rather than keyword overrides.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SIDE_ENV, str(LONG_SIDE))
            patch.setenv(STEPS_ENV, str(STEPS[self.model_type]))
            return evaluate(self.args(world, world["outputs"]["zero"]), seeds=SEEDS)

    def test_tiny_pipeline_is_safetensors_only_and_counts_its_parameters(self, world):
        files = [f for _, _, names in os.walk(world["base"]) for f in names]
        assert "model_index.json" in files
        assert any(f.endswith(".safetensors") for f in files)
        assert not any(f.endswith((".bin", ".pt", ".ckpt", ".pth")) for f in files)
        generate = load_generator(self.model_type, world["base"], None, None, steps=1)
        assert tiny_diffusion.count_parameters(generate.pipeline) == world["params"] > 0

    def test_written_lora_loads_into_the_denoiser(self, world):
        output = world["outputs"]["strong"]
        generate = load_generator(self.model_type, world["base"], None, None, steps=1)
        apply_lora(generate.pipeline, os.path.join(output, "checkpoints", "last.safetensors"), output)
        denoiser = "unet" if self.model_type == "sdxl" else "transformer"
        assert generate.pipeline.get_list_adapters() == {denoiser: ["submission"]}

    def test_zero_lora_scores_like_no_lora(self, world, zero_lora_result):
        tests = load_test_zip(world["dataset"], LONG_SIDE)
        plain = load_generator(self.model_type, world["base"], None, None, steps=STEPS[self.model_type])
        without = score_images(tests, plain, SEEDS)
        for key in ("test_loss", "text_guided_loss", "no_text_loss"):
            assert zero_lora_result[key] == pytest.approx(without[key], abs=1e-6)

    def test_result_is_the_weighted_mean_of_the_two_losses(self, zero_lora_result):
        result = zero_lora_result
        assert set(result) == {"test_loss", "text_guided_loss", "no_text_loss", "is_finetune"}
        assert result["is_finetune"] is True
        assert 0.0 < result["text_guided_loss"] < 1.0 and 0.0 < result["no_text_loss"] < 1.0
        expected = 0.25 * result["text_guided_loss"] + 0.75 * result["no_text_loss"]
        assert result["test_loss"] == pytest.approx(expected, rel=1e-12)

    def test_a_real_lora_changes_the_score(self, world, zero_lora_result):
        result = self.run(world, world["outputs"]["strong"])
        assert abs(result["test_loss"] - zero_lora_result["test_loss"]) > 1e-5

    def test_generation_is_deterministic_per_seed(self, world):
        generate = load_generator(self.model_type, world["base"], None, None, steps=STEPS[self.model_type])
        image = load_test_zip(world["dataset"], LONG_SIDE)[0].image
        first = generate(image, "a photo", SEEDS[0])
        assert (generate(image, "a photo", SEEDS[0]) == first).all()
        assert (generate(image, "a photo", SEEDS[0] + 1) != first).any()

    def test_generated_images_keep_the_test_image_size(self, world):
        generate = load_generator(self.model_type, world["base"], None, None, steps=2)
        for size in ((48, 40), (24, 48), (40, 8)):
            pixels = generate(Image.new("RGB", size, (90, 30, 200)), "a photo", 7)
            assert pixels.shape == (size[1], size[0], 3) and pixels.dtype.name == "uint8"

    def test_sampler_runs_the_reference_step_count(self, world):
        generate = load_generator(self.model_type, world["base"], None, None)
        reference = REFERENCE_SETTINGS[self.model_type]
        assert generate.plan == img2img_plan(reference.steps, reference.denoise)
        scheduler = generate.pipeline.scheduler
        calls, step = [], scheduler.step
        scheduler.step = lambda *a, **k: calls.append(1) or step(*a, **k)
        generate(Image.new("RGB", (32, 32), (10, 200, 30)), "", 1)
        assert len(calls) == reference.steps

    def test_missing_lora_fails_naming_the_expected_file(self, world):
        output = world["root"] / "no-lora"
        (output / "checkpoints").mkdir(parents=True)
        (output / "checkpoints" / "adapter.safetensors").write_bytes(b"x")
        with pytest.raises(SubmissionError, match=r"last\.safetensors"):
            self.run(world, output)

    def test_a_non_safetensors_file_fails_naming_it(self, world):
        output = world["root"] / "not-safetensors"
        output.mkdir()
        (output / "last.safetensors").write_bytes(b"\x80\x04 a pickle, not safetensors")
        with pytest.raises(SubmissionError, match=r"last\.safetensors is not a valid safetensors"):
            self.run(world, output)

    def test_tensors_that_are_not_a_lora_fail(self, world):
        import torch
        from safetensors.torch import save_file

        output = world["root"] / "not-a-lora"
        output.mkdir()
        save_file({"model.weight": torch.zeros(4, 4)}, str(output / "last.safetensors"))
        with pytest.raises(SubmissionError, match="could not be loaded as a LoRA"):
            self.run(world, output)

    def test_a_lora_for_another_architecture_fails(self, world):
        with pytest.raises(SubmissionError, match="(match any layer|could not be loaded)"):
            self.run(world, world["outputs"]["other"])

    def test_a_lora_producing_nan_fails(self, world):
        with pytest.raises(SubmissionError, match="NaN"):
            self.run(world, world["outputs"]["nan"])
