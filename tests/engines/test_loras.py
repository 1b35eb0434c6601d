"""Per-run LoRAs and the Lightning variant on the tiny weights (docs/loras.md).

Each test LoRA is random, generated offline in the diffusers/PEFT key format for the tiny
transformer; big enough (std 0.3) to move the tiny model's output (whose tiny VAE damps every change).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
from safetensors.torch import save_file

from pixelrun.engines.engine import LoraFile
from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID, EditParameters
from pixelrun.engines.qwen_image_edit.adapters import LoraError
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import (
    LIGHTNING_SCHEDULER_CONFIG,
    random_lora_state_dict,
    save_tiny_lightning_lora,
)
from pixelrun.engines.qwen_image_edit.loading import choose_placement, load_pipeline

from .conftest import noise_image, pixels

IMAGES = [noise_image(64, 48, 3)]
PARAMS = {
    "prompt": "make it blue",
    "num_inference_steps": 2,
    "guidance_scale": 1.0,
    "image_size": "256x256",
    "seed": 11,
    "acceleration": "none",
    "enable_safety_checker": False,
}


def write_lora(directory: Path, name: str, state: dict[str, torch.Tensor]) -> LoraFile:
    path = directory / f"{name}.safetensors"
    save_file(state, str(path))
    return LoraFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), name)


@pytest.fixture(scope="module")
def base_transformer(tiny_dir: Path) -> QwenImageTransformer2DModel:
    return QwenImageTransformer2DModel.from_pretrained(tiny_dir, subfolder="transformer")


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loras")


@pytest.fixture(scope="module")
def attention_lora(base_transformer: QwenImageTransformer2DModel, lora_dir: Path) -> LoraFile:
    state = random_lora_state_dict(base_transformer, seed=1, std=0.3, targets=("attn.to_q", "attn.to_v"))
    return write_lora(lora_dir, "attention", state)


@pytest.fixture(scope="module")
def mlp_lora(base_transformer: QwenImageTransformer2DModel, lora_dir: Path) -> LoraFile:
    state = random_lora_state_dict(base_transformer, seed=2, std=0.3, targets=("img_mlp.net.2",))
    return write_lora(lora_dir, "mlp", state)


@pytest.fixture(scope="module")
def lightning_file(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lightning")
    (directory / "transformer").symlink_to(tiny_dir / "transformer")
    return save_tiny_lightning_lora(directory)


@pytest.fixture(scope="module")
def lora_engine(tiny_dir: Path, lightning_file: Path) -> QwenImageEditEngine:
    """An engine of its own: adapters must not leak into the session-wide engine."""
    return QwenImageEditEngine.load(tiny_dir, device="cpu", lightning_lora=lightning_file, lora_cache=2)


def run(
    engine: QwenImageEditEngine, loras: list[tuple[LoraFile, float]] = (), **overrides: object
) -> np.ndarray:
    result = engine.edit(EditParameters(**{**PARAMS, **overrides}), IMAGES, loras=loras)
    return pixels(result.images[0])


def test_scale_zero_is_the_base_model_and_scale_one_changes_the_image(
    lora_engine: QwenImageEditEngine, engine: QwenImageEditEngine, attention_lora: LoraFile
) -> None:
    plain = run(engine)  # the session engine never saw an adapter
    assert np.array_equal(run(lora_engine), plain)
    assert np.array_equal(run(lora_engine, [(attention_lora, 0.0)]), plain)
    with_lora = run(lora_engine, [(attention_lora, 1.0)])
    assert np.abs(with_lora.astype(int) - plain.astype(int)).mean() > 0.05
    # Gone after its run: the next run is the base model bit for bit.
    assert np.array_equal(run(lora_engine), plain)
    # And a stronger scale moves further than scale 1.
    stronger = run(lora_engine, [(attention_lora, 3.0)])
    assert (
        np.abs(stronger.astype(int) - plain.astype(int)).mean()
        > np.abs(with_lora.astype(int) - plain.astype(int)).mean()
    )


def test_two_loras_combine_like_one_file_holding_both(
    lora_engine: QwenImageEditEngine, attention_lora: LoraFile, mlp_lora: LoraFile, lora_dir: Path
) -> None:
    from safetensors.torch import load_file

    both = write_lora(
        lora_dir, "both", {**load_file(str(attention_lora.path)), **load_file(str(mlp_lora.path))}
    )
    combined = run(lora_engine, [(attention_lora, 1.0), (mlp_lora, 1.0)])
    assert np.array_equal(combined, run(lora_engine, [(both, 1.0)]))
    assert not np.array_equal(combined, run(lora_engine, [(attention_lora, 1.0)]))
    assert not np.array_equal(combined, run(lora_engine, [(mlp_lora, 1.0)]))


def test_adapters_stay_loaded_up_to_the_cache_size(
    lora_engine: QwenImageEditEngine,
    attention_lora: LoraFile,
    mlp_lora: LoraFile,
    lora_dir: Path,
    base_transformer: QwenImageTransformer2DModel,
) -> None:
    third = write_lora(lora_dir, "third", random_lora_state_dict(base_transformer, seed=3, std=0.3))
    for lora in (attention_lora, mlp_lora, third):
        lora_engine.load_loras([lora])
    # Capacity 2: the least recently used one went; the pinned Lightning adapter stays.
    assert lora_engine.adapters.loaded == [mlp_lora.adapter_name, third.adapter_name]
    assert "lightning" in lora_engine.pipeline.transformer.peft_config
    assert attention_lora.adapter_name not in lora_engine.pipeline.transformer.peft_config


def test_a_lora_that_does_not_fit_fails_with_its_name_and_the_engine_carries_on(
    lora_engine: QwenImageEditEngine,
    engine: QwenImageEditEngine,
    lora_dir: Path,
    base_transformer: QwenImageTransformer2DModel,
) -> None:
    corrupt = lora_dir / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 definitely not safetensors" * 20)
    foreign = write_lora(
        lora_dir,
        "sdxl-style",
        {
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 768),
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(3072, 4),
        },
    )
    nothing = write_lora(
        lora_dir,
        "unknown-keys",
        {
            "transformer.no_such_block.lora_A.weight": torch.zeros(2, 8),
            "transformer.no_such_block.lora_B.weight": torch.zeros(8, 2),
        },
    )
    state = random_lora_state_dict(base_transformer, seed=4, targets=("attn.to_q",))
    bigger = write_lora(
        lora_dir,
        "bigger-model",
        {
            key: torch.zeros(tuple(side * 2 if side > 4 else side for side in value.shape))
            for key, value in state.items()
        },
    )
    cases = {
        LoraFile(corrupt, "0" * 64, "corrupt.safetensors"): "not a readable .safetensors file",
        foreign: "none of its 2 tensors matches a layer of this model's transformer",
        nothing: "does not fit this model: Target modules {'no_such_block'} not found",
        bigger: "does not fit this model: size mismatch for transformer_blocks.0.attn.to_q",
    }
    for lora, problem in cases.items():
        with pytest.raises(LoraError) as caught:
            lora_engine.load_loras([lora])
        assert str(caught.value).startswith(f"LoRA {lora.label}: ")
        assert problem in str(caught.value)
        assert lora.adapter_name not in lora_engine.pipeline.transformer.peft_config
    assert np.array_equal(run(lora_engine), run(engine))


def test_lightning_equals_a_direct_diffusers_call_with_its_lora_and_scheduler(
    lora_engine: QwenImageEditEngine,
    engine: QwenImageEditEngine,
    tiny_dir: Path,
    lightning_file: Path,
    tiny_areas: None,
) -> None:
    overrides = {"num_inference_steps": 4, "seed": 5}
    result = lora_engine.edit(EditParameters(**{**PARAMS, **overrides}), IMAGES, lightning=True)
    assert result.lightning and result.transformer_forwards == 4

    pipeline = load_pipeline(tiny_dir, choose_placement("cpu"))
    pipeline.load_lora_weights(str(lightning_file))
    pipeline.scheduler = FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER_CONFIG)
    (expected,) = pipeline(
        image=IMAGES,
        prompt=PARAMS["prompt"],
        negative_prompt=None,
        true_cfg_scale=1.0,
        num_inference_steps=4,
        height=256,
        width=256,
        generator=torch.Generator("cpu").manual_seed(5),
    ).images
    assert np.array_equal(pixels(result.images[0]), pixels(expected))
    # The Lightning adapter and scheduler were for that call only.
    assert np.array_equal(run(lora_engine, **overrides), run(engine, **overrides))


def test_a_run_is_the_lightning_variant_for_the_lightning_model_id(
    lora_engine: QwenImageEditEngine, engine: QwenImageEditEngine
) -> None:
    """The worker's call (`engines.Engine.run`): the engine, not the worker, picks the variant."""
    request = EditParameters(**{**PARAMS, "num_inference_steps": 4, "seed": 5})
    lightning = lora_engine.run(LIGHTNING_MODEL_ID, request, IMAGES)
    direct = lora_engine.edit(request, IMAGES, lightning=True)
    assert np.array_equal(pixels(lightning.images[0]), pixels(direct.images[0]))
    base = lora_engine.run(MODEL_ID, request, IMAGES)
    assert np.array_equal(pixels(base.images[0]), run(engine, num_inference_steps=4, seed=5))
    assert not np.array_equal(pixels(base.images[0]), pixels(lightning.images[0]))
    assert (lightning.seed, lightning.nsfw_flags, lightning.summary) == (5, None, "4 transformer passes")
    assert lightning.inference_ms > 0 and lightning.safety_ms == 0
    assert lightning.model_data == {
        "prompt": "make it blue",
        "has_nsfw_concepts": [False],
        "acceleration": "none",
        "num_inference_steps": 4,
        "guidance_scale": 1.0,
        "width": 256,
        "height": 256,
        "transformer_forwards": 4,
        "loras": [],
    }
    with pytest.raises(ValueError, match="acme/other is not served by this engine"):
        lora_engine.run("acme/other", request, IMAGES)


def test_warm_up_runs_each_size_a_cached_step_cfg_and_lightning(lora_engine: QwenImageEditEngine) -> None:
    """What a compiled worker runs before it says ready (here uncompiled: the calls, not the compile)."""
    done: list[str] = []
    lora_engine.warm_up([(256, 256), (320, 256)], on_done=done.append)
    assert done == ["256x256", "320x256", "cache", "cfg", "lightning"]
