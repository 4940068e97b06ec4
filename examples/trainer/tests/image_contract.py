"""End-to-end checks of the image trainer against the evaluator, shared by SDXL and Flux.

test_image_sdxl.py and test_image_flux.py subclass `TrainerContract`. Each class builds one tiny
world (a base pipeline whose VAE knows the pictures, 16 training and 3 held-out pictures), runs the
trainer's `main()` three times (an unchanged zero LoRA, a real fine-tune, a diverging learning
rate) and scores each output with the evaluator's own `crucible_eval.image.evaluate`.

Why the fine-tunes use more LoRA targets than trainer.toml: the tiny base's denoiser is random, so
the LoRA must teach it denoising from scratch, which its few attention layers cannot carry; a real
base model already denoises and needs far less.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import image_world
import pytest

if not image_world.evaluator_available():
    pytest.skip(f"no evaluator at {image_world.EVALUATOR}; set CRUCIBLE_EVALUATOR", allow_module_level=True)
image_world.import_evaluator()

MODEL_ID = "tiny/image-base"
TASK_ID = "image-task"
SIDE = 32
# Of the reference's ten seeds, the first two: enough to average out one unlucky draw.
EVAL_SEEDS = (2746317213, 1181241943)


def toml_table(values: dict) -> str:
    """An [image] table; json.dumps writes strings, numbers, booleans and lists as TOML does."""
    return "[image]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


class TrainerContract:
    model_type: str = ""
    # [image] keys of the real fine-tune, on top of BASE_SETTINGS.
    fine_tune: dict = {}
    eval_steps: int = 0
    BASE_SETTINGS = {"resolution": SIDE, "rank": 4, "seed": 7, "gradient_checkpointing": False}

    @pytest.fixture(scope="class")
    def world(self, tmp_path_factory):
        import torch

        torch.set_num_threads(1)
        root = tmp_path_factory.mktemp(f"image-{self.model_type}")
        base = root / "cache" / "models" / MODEL_ID.replace("/", "--")
        image_world.make_base(self.model_type, base, SIDE)
        (root / "cache" / "datasets").mkdir(parents=True)
        image_world.write_zip(root / "cache" / "datasets" / f"{TASK_ID}_tourn.zip", 16, seed=1, stem="train_data")
        test_zip = image_world.write_zip(root / "test_data.zip", 3, seed=2, stem="test_data")
        return {"root": root, "base": base, "test_zip": test_zip, "runs": 0}

    def train(self, world, settings: dict, *, hours: float = 1.0, dataset_zip: str | None = None):
        """Runs the trainer's main() as the container would; returns (exit code, summary, output folder)."""
        from image_trainer import cli

        world["runs"] += 1
        name = f"repo-{world['runs']}"
        config = world["root"] / f"{name}.toml"
        config.write_text(toml_table({**self.BASE_SETTINGS, **settings}))
        argv = ["--task-id", TASK_ID, "--model", MODEL_ID, "--model-type", self.model_type,
                "--expected-repo-name", name, "--hours-to-complete", str(hours)]  # fmt: skip
        if dataset_zip:
            argv += ["--dataset-zip", dataset_zip]
        stdout = io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
            patch.setenv("TRAINER_CONFIG", str(config))
            patch.setenv("CRUCIBLE_CACHE_DIR", str(world["root"] / "cache"))
            patch.setenv("CRUCIBLE_OUTPUT_ROOT", str(world["root"] / "out"))
            code = cli.main(argv)
        print(stdout.getvalue())
        summary = json.loads(stdout.getvalue().strip().splitlines()[-1]) if code == 0 else None
        return code, summary, world["root"] / "out" / TASK_ID / name

    def score(self, world, output):
        """The evaluator's result for `output`, or the SubmissionError it raised."""
        from crucible_eval.errors import SubmissionError
        from crucible_eval.image import SIDE_ENV, STEPS_ENV, evaluate

        args = argparse.Namespace(
            task_id=TASK_ID, task_type="ImageTask", model=MODEL_ID, base_model_path=str(world["base"]),
            trained_model_path=str(output), dataset=str(world["test_zip"]), model_type=self.model_type,
        )  # fmt: skip
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SIDE_ENV, str(SIDE))
            patch.setenv(STEPS_ENV, str(self.eval_steps))
            try:
                return evaluate(args, seeds=EVAL_SEEDS)
            except SubmissionError as error:
                return error

    @pytest.fixture(scope="class")
    def runs(self, world):
        """The three trainings and their scores: {name: (summary, output folder, result)}."""
        settings = {
            "unchanged": {"mode": "unchanged"},
            "fine-tune": self.fine_tune,
            # Adam moves every LoRA weight by about the learning rate per step: 1.0 wrecks the model.
            "diverged": {**self.fine_tune, "learning_rate": 1.0, "max_steps": 20},
        }
        results = {}
        for name, values in settings.items():
            code, summary, output = self.train(world, values)
            assert code == 0, f"{name}: the trainer failed"
            results[name] = (summary, output, self.score(world, output))
            print(f"{self.model_type} {name}: {summary} -> {results[name][2]}")
        return results

    def test_the_lora_is_written_where_the_evaluator_looks_and_loads(self, world, runs):
        from crucible_eval.image_data import find_lora_file
        from crucible_eval.image_pipelines import apply_lora, load_generator

        _, output, _ = runs["fine-tune"]
        lora = output / "checkpoints" / "last.safetensors"
        assert find_lora_file(str(output)) == str(lora)
        assert sorted(p.name for p in output.rglob("*") if p.is_file()) == ["last.safetensors"]
        generate = load_generator(self.model_type, str(world["base"]), None, None, steps=1)
        apply_lora(generate.pipeline, str(lora), str(output))
        denoiser = "unet" if self.model_type == "sdxl" else "transformer"
        assert generate.pipeline.get_list_adapters() == {denoiser: ["submission"]}

    def test_unchanged_mode_writes_an_all_zero_lora(self, runs):
        from safetensors.torch import load_file

        summary, output, _ = runs["unchanged"]
        tensors = load_file(output / "checkpoints" / "last.safetensors")
        up = [t for name, t in tensors.items() if "lora_B" in name]
        assert summary["mode"] == "unchanged" and "steps" not in summary
        assert up and all(float(t.abs().max()) == 0.0 for t in up)

    def test_training_lowers_the_loss(self, runs):
        summary, _, _ = runs["fine-tune"]
        assert summary["steps"] == summary["planned_steps"] == self.fine_tune["max_steps"]
        assert summary["stopped"] == "steps done"
        assert summary["loss_end"] < 0.7 * summary["loss_start"]
        assert summary["probe_loss_after"] < 0.7 * summary["probe_loss_before"]

    def test_a_fine_tune_scores_better_than_the_unchanged_base(self, runs):
        unchanged, trained = runs["unchanged"][2], runs["fine-tune"][2]
        assert trained["is_finetune"] is True
        assert trained["test_loss"] < 0.8 * unchanged["test_loss"], (trained, unchanged)

    def test_a_diverging_learning_rate_scores_worse_or_is_rejected(self, runs):
        from crucible_eval.errors import SubmissionError

        result, unchanged = runs["diverged"][2], runs["unchanged"][2]
        if isinstance(result, SubmissionError):
            assert "NaN" in str(result)
        else:
            assert result["test_loss"] > unchanged["test_loss"], (result, unchanged)

    def test_images_of_different_sizes_train_with_gradient_checkpointing(self, world):
        from safetensors.torch import load_file

        zip_path = world["root"] / "mixed.zip"
        image_world.write_zip(zip_path, 5, seed=3, stem="train_data", sizes=((32, 32), (48, 32), (32, 64)))
        settings = {"max_steps": 3, "batch_size": 4, "gradient_checkpointing": True}
        code, summary, output = self.train(world, settings, dataset_zip=str(zip_path))
        assert code == 0 and summary["images"] == 5 and summary["steps"] == 3
        tensors = load_file(output / "checkpoints" / "last.safetensors")
        # B starts at zero: a non-zero B shows the gradients reached the LoRA through the checkpoints.
        assert any(float(t.abs().max()) > 0 for name, t in tensors.items() if "lora_B" in name)

    def test_a_spent_deadline_still_saves_a_lora(self, world):
        code, summary, output = self.train(world, {"max_steps": 50}, hours=1e-7)
        assert code == 0 and summary["stopped"] == "deadline" and summary["steps"] == 0
        assert (output / "checkpoints" / "last.safetensors").is_file()
