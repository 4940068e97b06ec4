"""The tiny world: written whole, consistent with its content.json, loadable, and preparable."""

import json

import pytest

from crucible_eval.content import check_files, load_content
from crucible_eval.prepare import main as prepare_main
from crucible_eval.tiny import text_datasets, write_world

SEED = 0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    write_world(root, seed=SEED)
    return root


def test_the_world_has_every_model_and_task_type(world):
    content = load_content(world)
    assert {m.id for m in content.models} == {"tiny/llama-small", "tiny/llama-large", "tiny/sdxl", "tiny/flux"}
    served = {t for d in content.datasets for t in d.task_types}
    assert served == {"InstructTextTask", "ChatTask", "DpoTask", "GrpoTask", "ImageTask"}
    text_sizes = sorted(m.params for m in content.models if m.model_type is None)
    assert 50_000 < text_sizes[0] < 200_000 and 200_000 < text_sizes[1] < 800_000
    assert len(content.reward_functions) >= 5


def test_content_json_matches_the_files_and_their_parameter_counts(world):
    content = load_content(world)
    assert check_files(content) == []
    for dataset in content.datasets:
        path = content.path_of(dataset)
        rows = len(list(path.glob("*.png"))) if path.is_dir() else len(json.loads(path.read_text()))
        assert rows == dataset.rows
        assert dataset.rows >= (10 if path.is_dir() else 2000)
    image_models = {m.model_type: content.path_of(m) for m in content.models if m.model_type}
    assert set(image_models) == {"sdxl", "flux"}
    for model_type, path in image_models.items():
        index = json.loads((path / "model_index.json").read_text())
        expected = "StableDiffusionXLPipeline" if model_type == "sdxl" else "FluxPipeline"
        assert index["_class_name"] == expected


def test_the_image_pipelines_draw_the_worlds_pictures_at_their_declared_resolution(world):
    import numpy as np
    import torch
    from diffusers import AutoencoderKL
    from PIL import Image

    from crucible_eval.tiny_pictures import SIDE, pixels

    content = load_content(world)
    pictures = sorted((world / "datasets" / "images").glob("*.png"))
    batch = torch.stack([pixels(Image.open(p).convert("RGB")) for p in pictures[:8]])
    assert batch.shape[-2:] == (SIDE, SIDE)
    for model in (m for m in content.models if m.model_type):
        assert model.resolution == SIDE
        vae = AutoencoderKL.from_pretrained(content.path_of(model), subfolder="vae")
        assert vae.config.sample_size == SIDE
        with torch.no_grad():
            drawn = vae.decode(vae.encode(batch).latent_dist.mean).sample
        error = float(((drawn - batch) ** 2).mean())
        # Measured: a random VAE's error is about 0.52 on these pictures (values in [-1, 1]), and
        # drawing each pixel in the mean colour about 0.19; the taught VAEs are under 0.1.
        print(f"{model.id}: reconstruction error {error:.4f}")
        assert error < 0.1, f"{model.id}: its VAE does not reconstruct the world ({error:.3f})"
    assert np.asarray(Image.open(pictures[0])).shape == (SIDE, SIDE, 3)


def test_the_text_model_loads_and_its_tokenizer_covers_the_datasets(world):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    content = load_content(world)
    model_entry = content.model("tiny/llama-small")
    path = content.path_of(model_entry)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert model.num_parameters() == model_entry.params
    sentence = json.loads((world / "datasets" / "instruct.json").read_text())[0]["answer"]
    ids = tokenizer(sentence)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == sentence
    texts = []
    for name in ("instruct.json", "dpo.json", "chat.json"):
        for row in json.loads((world / "datasets" / name).read_text()):
            for value in row.values():
                if isinstance(value, list):
                    texts += [message["value"] for message in value]
                elif isinstance(value, str):
                    texts.append(value)
    # The chatml turn markers and the GRPO answer format tokenize without <unk> too.
    texts += ["<|im_start|>user\nwhat is one plus two<|im_end|>\n<|im_start|>assistant\nthree<|im_end|>\n",
              "<think>because one plus two is three</think><answer>three</answer>"]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert all(tokenizer.unk_token_id not in ids for ids in encoded)


def test_every_dataset_of_the_world_prepares(world, tmp_path, capsys):
    content = load_content(world)
    text_model = "tiny/llama-small"
    for dataset in content.datasets:
        for task_type in dataset.task_types:
            model = "tiny/flux" if task_type == "ImageTask" else text_model
            task_id = f"{task_type}-{dataset.id.replace('/', '-')}"
            code = prepare_main(["--content", str(world), "--task-id", task_id, "--task-type", task_type,
                                 "--model", model, "--dataset", dataset.id,
                                 "--cache", str(tmp_path / "cache"), "--heldout", str(tmp_path / "heldout")])
            assert code == 0, capsys.readouterr().err
    train = json.loads((tmp_path / "cache" / "datasets" / "InstructTextTask-tiny-instruct_train_data.json").read_text())
    assert len(train) == 2160 and set(train[0]) == {"instruct", "output", "input"}
    assert (tmp_path / "cache" / "datasets" / "ImageTask-tiny-images_tourn.zip").is_file()
    assert (tmp_path / "cache" / "models" / "tiny--flux" / "model_index.json").is_file()


def test_the_same_seed_gives_the_same_world(world, tmp_path):
    again = tmp_path / "again"
    write_world(again, seed=SEED)
    files = sorted(p.relative_to(world) for p in world.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for relative in files:
        assert (world / relative).read_bytes() == (again / relative).read_bytes(), relative
    assert text_datasets(SEED + 1) != text_datasets(SEED)


def test_a_short_fine_tuning_clearly_lowers_the_test_loss(world):
    """The instruct data is learnable: 60 small steps of the small model halve its answer loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = world / "models" / "tiny--llama-small"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    rows = json.loads((world / "datasets" / "instruct.json").read_text())

    def batch(selected):
        sequences = []
        for row in selected:
            prompt = tokenizer(row["question"])["input_ids"]
            answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            sequences.append((prompt + answer, [-100] * len(prompt) + answer))
        width = max(len(ids) for ids, _ in sequences)
        ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s, _ in sequences])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in sequences])
        return ids, (ids != tokenizer.pad_token_id).long(), labels

    test_ids, test_mask, test_labels = batch(rows[:200])

    def test_loss():
        with torch.no_grad():
            return model(input_ids=test_ids, attention_mask=test_mask, labels=test_labels).loss.item()

    before = test_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    train = rows[200:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only add contention on a shared machine
    try:
        for step in range(60):
            ids, mask, labels = batch(train[step * 16:][:16])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    assert test_loss() < 0.5 * before
