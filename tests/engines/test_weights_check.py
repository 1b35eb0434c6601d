"""Weights that cannot be loaded: the completeness check, the source check, and the loader's errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from pixelrun.weights.bundle import BASE, LIGHTNING, SAFETY, bundle_problems
from pixelrun.weights.checkpoint import checkpoint_problems, model_folder_problems
from pixelrun.weights.source import locate_weights
from pixelrun.weights.unavailable import WeightsUnavailable


@pytest.fixture
def copy(tiny_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(tiny_dir, target)
    return target


def test_the_tiny_checkpoint_is_complete(tiny_dir: Path) -> None:
    assert checkpoint_problems(tiny_dir) == []
    assert locate_weights(tiny_dir) == tiny_dir


def test_missing_parts_are_named(copy: Path) -> None:
    shutil.rmtree(copy / "vae")
    (copy / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    (copy / "scheduler" / "scheduler_config.json").unlink()
    (copy / "text_encoder" / "model.safetensors").write_bytes(b"")  # an interrupted copy
    assert checkpoint_problems(copy) == [
        "scheduler/: no configuration (config.json or scheduler_config.json or preprocessor_config.json "
        "or processor_config.json or tokenizer_config.json)",
        "text_encoder/: no weights (*.safetensors or *.bin)",
        "transformer/: no weights (*.safetensors or *.bin)",
        "vae/ missing",
    ]


def test_sharded_weights_need_every_shard_of_the_index(copy: Path) -> None:
    folder = copy / "transformer"
    (folder / "diffusion_pytorch_model.safetensors").rename(folder / "model-00001-of-00003.safetensors")
    weight_map = {f"w{i}": f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)}
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps({"weight_map": weight_map})
    )
    assert checkpoint_problems(copy) == [
        "transformer/: 2 of 3 shards missing (model-00002-of-00003.safetensors, model-00003-of-00003.safetensors)"
    ]
    for shard in ("model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"):
        (folder / shard).write_bytes(b"x")
    assert checkpoint_problems(copy) == []


def test_a_dangling_symlink_counts_as_missing(copy: Path, tmp_path: Path) -> None:
    # How a Hugging Face cache snapshot looks when a blob never finished downloading.
    target = copy / "vae" / "diffusion_pytorch_model.safetensors"
    target.unlink()
    target.symlink_to(tmp_path / "blobs" / "never-written")
    assert checkpoint_problems(copy) == ["vae/: no weights (*.safetensors or *.bin)"]


def test_no_model_index(tmp_path: Path) -> None:
    assert checkpoint_problems(tmp_path) == ["model_index.json missing"]


@pytest.mark.parametrize(
    ("make", "reason", "words"),
    [
        (lambda root: root / "nope", "not_found", "no such directory"),
        (lambda root: _file(root / "f.bin"), "not_a_directory", "is a file"),
        (lambda root: _partial(root), "incomplete", "not a complete checkpoint: vae/ missing"),
    ],
)
def test_local_weights_fail_with_a_reason(
    tmp_path: Path, tiny_dir: Path, make, reason: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(tiny_dir, tmp_path / "tiny")
    with pytest.raises(WeightsUnavailable) as caught:
        locate_weights(make(tmp_path))
    assert caught.value.reason == reason and words in str(caught.value)
    assert "\n" not in str(caught.value)


def _file(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def _partial(root: Path) -> Path:
    shutil.rmtree(root / "tiny" / "vae")
    return root / "tiny"


def test_an_unknown_hub_id_with_the_hub_offline_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable) as caught:
        locate_weights("nobody/no-such-model")
    assert caught.value.reason == "no_hub_access" and "HF_HUB_OFFLINE is set" in str(caught.value)
    assert time.monotonic() - started < 5


def test_the_download_folder_is_checked_part_by_part(tiny_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / BASE.folder)
    problems = bundle_problems(tmp_path)
    assert problems[BASE.label] == []
    assert problems[LIGHTNING.label] == [f"{LIGHTNING.folder}/{LIGHTNING.filename} missing"]
    assert problems[SAFETY.label] == [f"{SAFETY.folder}/ missing"]
    assert locate_weights(tmp_path) == tmp_path / BASE.folder  # --weights takes the folder itself


def test_the_safety_classifier_folder_check(tmp_path: Path) -> None:
    from pixelrun.safety import save_tiny_classifier

    save_tiny_classifier(tmp_path / "safety")
    assert model_folder_problems(tmp_path / "safety") == []
    (tmp_path / "safety" / "model.safetensors").unlink()
    assert model_folder_problems(tmp_path / "safety") == ["safety/: no weights (*.safetensors or *.bin)"]


def test_a_corrupt_file_is_a_load_error(copy: Path) -> None:
    from pixelrun.engines.qwen_image_edit.loading import choose_placement, load_pipeline

    weights = copy / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(WeightsUnavailable) as caught:
        load_pipeline(copy, choose_placement("cpu"))
    assert caught.value.reason == "load_error"
    assert str(copy) in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None  # the library's error, for --verbose logs


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "tpu", "nonsense"])
def test_a_device_this_machine_lacks_is_refused(device: str) -> None:
    import torch

    from pixelrun.engines.qwen_image_edit.loading import choose_placement

    if torch.cuda.is_available() and device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that device")
    with pytest.raises(WeightsUnavailable) as caught:
        choose_placement(device)
    assert caught.value.reason == "wrong_device" and device in str(caught.value)
