"""Reading the image test zip and finding the submitted LoRA file."""

import io
import os
import zipfile

import pytest
from image_fixtures import CAPTIONS, write_test_zip
from PIL import Image

from crucible_eval.errors import SubmissionError
from crucible_eval.image_data import check_lora_file, find_lora_file, load_test_zip


def touch(root, relative, content=b"x"):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(content)
    return path


def test_zip_yields_resized_images_with_their_captions(tmp_path):
    tests = load_test_zip(write_test_zip(tmp_path / "test_data.zip"), long_side=48)
    assert [t.name for t in tests] == ["test_data/0.png", "test_data/1.png"]
    assert [t.caption for t in tests] == CAPTIONS
    assert [t.image.size for t in tests] == [(48, 40), (24, 48)]  # 40 x 64 -> 30 x 48 -> 24 x 48


def test_zip_skips_images_without_caption_and_other_files(tmp_path):
    path = tmp_path / "t.zip"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("test_data/10.png", buffer.getvalue())
        archive.writestr("test_data/10.txt", "ten")
        archive.writestr("test_data/2.PNG", buffer.getvalue())
        archive.writestr("test_data/2.txt", "two")
        archive.writestr("test_data/3.png", buffer.getvalue())  # no caption: skipped
        archive.writestr("test_data/notes.md", "ignored")
    tests = load_test_zip(path, long_side=16)
    assert [t.caption for t in tests] == ["two", "ten"]


def test_zip_without_captioned_images_is_an_evaluator_error(tmp_path):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("test_data/readme.txt", "nothing")
    with pytest.raises(ValueError, match="no image"):
        load_test_zip(path)


def test_last_safetensors_is_found_at_the_root(tmp_path):
    expected = touch(tmp_path, "last.safetensors")
    assert find_lora_file(str(tmp_path)) == expected


def test_checkpoints_folder_wins_over_the_root_and_over_epochs(tmp_path):
    touch(tmp_path, "last.safetensors")
    touch(tmp_path, "checkpoints/last-9.safetensors")
    expected = touch(tmp_path, "checkpoints/last.safetensors")
    assert find_lora_file(str(tmp_path)) == expected


def test_largest_epoch_is_taken_when_there_is_no_last(tmp_path):
    touch(tmp_path, "checkpoints/last-2.safetensors")
    expected = touch(tmp_path, "checkpoints/deep/last-10.safetensors")
    touch(tmp_path, "checkpoints/last-9.safetensors")
    touch(tmp_path, "checkpoints/last-x.safetensors")
    assert find_lora_file(str(tmp_path)) == expected


def test_missing_lora_names_the_expected_file(tmp_path):
    touch(tmp_path, "checkpoints/model.safetensors")
    with pytest.raises(SubmissionError, match=r"last\.safetensors.*model\.safetensors"):
        find_lora_file(str(tmp_path))


def test_pickle_checkpoints_are_refused_by_name(tmp_path):
    touch(tmp_path, "checkpoints/last.ckpt")
    with pytest.raises(SubmissionError, match="pickle"):
        find_lora_file(str(tmp_path))


def test_empty_or_absent_output_fails_the_submission(tmp_path):
    with pytest.raises(SubmissionError, match="empty"):
        find_lora_file(str(tmp_path))
    with pytest.raises(SubmissionError, match="no output directory"):
        find_lora_file(str(tmp_path / "absent"))


def test_a_file_that_is_not_safetensors_is_named(tmp_path):
    path = touch(tmp_path, "checkpoints/last.safetensors", b"PK\x03\x04 this is a zip, not tensors")
    with pytest.raises(SubmissionError, match=r"checkpoints/last\.safetensors is not a valid safetensors"):
        check_lora_file(path, str(tmp_path))


def test_a_safetensors_file_without_tensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = str(tmp_path / "last.safetensors")
    save_file({}, path)
    with pytest.raises(SubmissionError, match="no tensors"):
        check_lora_file(path, str(tmp_path))
