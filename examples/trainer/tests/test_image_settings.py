"""The image trainer's inputs, without a model: settings, the training zip, arguments and failures."""

from __future__ import annotations

import io
import json
import random
import zipfile
from types import SimpleNamespace

import image_world
import pytest
from PIL import Image

from image_trainer import cli, data, loop
from image_trainer import settings as image_settings
from common.clock import Deadline

ARGS = ["--task-id", "t1", "--model", "org/base", "--model-type", "sdxl", "--expected-repo-name", "r1"]


def write(path, text):
    path.write_text(text)
    return path


def test_the_repository_config_loads_for_both_model_types(tmp_path):
    sdxl = image_settings.load("sdxl")
    flux = image_settings.load("flux")
    assert sdxl.mode == flux.mode == "lora"
    # The shipped values are the tiny world's (32 px pipelines); a key left out falls back to real models'.
    assert sdxl.resolution == flux.resolution == 32 and flux.flux_text_tokens == 32
    assert "proj_in" in sdxl.target_modules and "add_q_proj" in flux.target_modules
    assert "conv_in" in sdxl.target_modules and "conv_in" not in flux.target_modules
    real = image_settings.load("flux", write(tmp_path / "empty.toml", "[image]\n"))
    assert real.resolution == 1024 and real.flux_text_tokens == 512 and real.learning_rate == 1e-4


def test_a_model_type_table_overrides_only_that_model_type(tmp_path):
    config = write(tmp_path / "t.toml", '[train]\nmode = "full"\n[image]\nrank = 8\n[image.flux]\nrank = 32\n')
    assert image_settings.load("sdxl", config).rank == 8
    assert image_settings.load("flux", config).rank == 32


@pytest.mark.parametrize(
    "table, message",
    [
        ("ranks = 4", "unknown key `ranks`"),
        ('rank = "4"', "`rank` must be like 16"),
        ('target_modules = "to_q"', "`target_modules` must be like"),
        ("resolution = 1000", "`resolution` must be a multiple of 16"),
        ('mode = "full"', "`mode` must be one of"),
        ("caption_dropout = 1.5", "`caption_dropout`"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(tmp_path, table, message):
    config = write(tmp_path / "t.toml", f"[image]\n{table}\n")
    with pytest.raises(image_settings.SettingsError, match=message):
        image_settings.load("sdxl", config)


def test_a_missing_config_is_refused(tmp_path):
    with pytest.raises(image_settings.SettingsError, match="does not exist"):
        image_settings.load("sdxl", tmp_path / "nothing.toml")


def test_images_are_resized_like_the_evaluators_test_images():
    wide = data.resize(Image.new("RGB", (300, 200)), 64, 8)
    tall = data.resize(Image.new("RGB", (100, 330)), 64, 16)
    assert wide.size == (64, 40)  # 200/300 x 64 = 42.67 -> 42 -> cropped to 40
    assert tall.size == (16, 64)  # 100/330 x 64 = 19.4 -> 19 -> cropped to 16


def test_the_zip_yields_captioned_images_in_natural_order(tmp_path):
    path = tmp_path / "train.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("10", "2", "orphan"):
            buffer = io.BytesIO()
            Image.new("RGB", (40, 20), (255, 0, 0)).save(buffer, format="PNG")
            archive.writestr(f"train_data/{name}.png", buffer.getvalue())
        archive.writestr("train_data/2.txt", "two\n")
        archive.writestr("train_data/10.txt", "ten")
    images = data.load_zip(path, 32, 8)
    assert [(i.name, i.caption) for i in images] == [("train_data/2.png", "two"), ("train_data/10.png", "ten")]
    assert images[0].pixels.shape == (3, 16, 32)
    assert images[0].pixels.min() >= -1.0 and images[0].pixels.max() <= 1.0


def test_a_zip_without_pairs_or_not_a_zip_is_refused(tmp_path):
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("train_data/readme.txt", "no images")
    with pytest.raises(data.DatasetError, match="no captioned image"):
        data.load_zip(empty, 32, 8)
    with pytest.raises(data.DatasetError, match="not a zip"):
        data.load_zip(write(tmp_path / "bad.zip", "text"), 32, 8)
    with pytest.raises(data.DatasetError, match="is not at"):
        data.load_zip(tmp_path / "missing.zip", 32, 8)


def test_batches_hold_one_image_size_and_cover_every_image_once_per_epoch():
    sizes = [(4, 4), (4, 6), (4, 4), (4, 4), (4, 6), (4, 4), (4, 4)]
    fake = SimpleNamespace(examples=[SimpleNamespace(latent_mean=SimpleNamespace(shape=s)) for s in sizes])
    groups = loop.buckets(fake)
    batches = loop.epoch_batches(groups, 2, random.Random(0))
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    assert all(len({sizes[i] for i in batch}) == 1 for batch in batches)
    settings = image_settings.ImageSettings(batch_size=2, epochs=3, max_steps=0)
    assert loop.planned_steps(groups, settings) == 3 * (3 + 1)


def test_the_deadline_keeps_a_margin_to_save():
    settings = image_settings.ImageSettings(time_margin_minutes=10, time_margin_fraction=0.1)
    assert Deadline(1, settings, now=0).budget == 3000.0
    assert Deadline(3, settings, now=0).budget == 3 * 3600 * 0.9
    assert Deadline(0.1, settings, now=0).budget == 180.0  # half the budget at least
    assert Deadline(0, settings, now=0).budget == settings.fallback_minutes * 60


def test_unknown_arguments_are_ignored_and_the_model_type_is_case_insensitive():
    args = cli.parse_args(["--task-id", "t", "--model", "m", "--model-type", "SDXL", "--expected-repo-name", "r",
                           "--hours-to-complete", "2", "--future-flag", "x"])  # fmt: skip
    assert args.model_type == "sdxl" and args.hours_to_complete == 2.0


def test_default_paths_follow_the_miner_contract(monkeypatch):
    monkeypatch.delenv("CRUCIBLE_CACHE_DIR", raising=False)
    monkeypatch.delenv("CRUCIBLE_OUTPUT_ROOT", raising=False)
    base, dataset, out = cli.paths(cli.parse_args(ARGS))
    assert str(base) == "/cache/models/org--base"
    assert str(dataset) == "/cache/datasets/t1_tourn.zip"
    assert str(out) == "/app/checkpoints/t1/r1"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRUCIBLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CRUCIBLE_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.setenv("TRAINER_CONFIG", str(write(tmp_path / "t.toml", "[image]\nresolution = 32\n")))
    (tmp_path / "cache" / "datasets").mkdir(parents=True)
    image_world.write_zip(tmp_path / "cache" / "datasets" / "t1_tourn.zip", 2, seed=0, stem="train_data")
    return tmp_path / "cache"


def run_main(capsys, argv):
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def test_a_missing_base_model_exits_2_with_an_error_line(cache, capsys):
    code, last = run_main(capsys, ARGS)
    assert code == 2 and last.startswith("error: the base model org/base is not at")


def test_a_base_of_the_other_model_type_exits_2_naming_both(cache, capsys):
    base = cache / "models" / "org--base"
    base.mkdir(parents=True)
    (base / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    code, last = run_main(capsys, ARGS)
    assert code == 2 and "is a FluxPipeline, not a StableDiffusionXLPipeline" in last


def test_a_bad_training_zip_exits_2(cache, capsys):
    (cache / "models" / "org--base").mkdir(parents=True)
    write(cache / "datasets" / "t1_tourn.zip", "not a zip")
    code, last = run_main(capsys, ARGS)
    assert code == 2 and last.startswith("error: ") and "is not a zip file" in last
