"""Build the engine a worker (or the one-shot CLI) runs, from `Settings`."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import INPUT_MODELS, LIGHTNING_MODEL_ID
from pixelrun.engines.qwen_image_edit.compilation import TINY_WARMUP_SIZES, WARMUP_SIZES
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import (
    TINY_LIGHTNING_FILE,
    resolve_lightning_lora,
    save_tiny_lightning_lora,
)
from pixelrun.engines.qwen_image_edit.tiny_weights import ensure_tiny_checkpoint
from pixelrun.safety import DEFAULT_SAFETY_WEIGHTS, NsfwClassifier, save_tiny_classifier

log = logging.getLogger(__name__)

TINY = "tiny"


@contextlib.contextmanager
def generation_lock(settings: Settings) -> Iterator[None]:
    """One process at a time generates tiny weights in a data dir.

    Workers started together (`serve --workers N`) would otherwise both generate, and one
    would replace the directory while the other is loading from it.
    """
    directory = settings.data_dir / "weights"
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".generate.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_weights(settings: Settings) -> str | Path:
    """`tiny` → the generated checkpoint in the data dir (made on first use); else as given."""
    if settings.weights == TINY:
        with generation_lock(settings):
            return ensure_tiny_checkpoint(settings.tiny_weights_dir)
    return settings.weights


def served_models(settings: Settings) -> list[str]:
    """The model ids of `settings.models`, checked against what this engine can serve."""
    unknown = [model for model in settings.models if model not in INPUT_MODELS]
    if unknown or not settings.models:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(unknown) or '(empty)'} not served by this engine; "
            f"choose from {', '.join(INPUT_MODELS)}"
        )
    return list(dict.fromkeys(settings.models))


def lightning_lora_for(settings: Settings) -> Path | None:
    """The Lightning LoRA file when the Lightning model is served; tiny weights get a tiny one."""
    if LIGHTNING_MODEL_ID not in served_models(settings):
        return None
    if settings.weights == TINY:
        directory = resolve_weights(settings)
        target = Path(directory) / TINY_LIGHTNING_FILE
        with generation_lock(settings):
            if not target.is_file():
                save_tiny_lightning_lora(Path(directory))
        return target
    return resolve_lightning_lora(settings.lightning_lora)


def resolve_safety_weights(settings: Settings) -> str | Path:
    if settings.safety_weights:
        return settings.safety_weights
    if settings.weights == TINY:
        directory = settings.data_dir / "weights" / "tiny-safety"
        with generation_lock(settings):
            if not (directory / "preprocessor_config.json").is_file():
                save_tiny_classifier(directory)
        return directory
    return DEFAULT_SAFETY_WEIGHTS


def warmup_sizes(settings: Settings) -> tuple[tuple[int, int], ...]:
    """Output sizes a compiled engine warms up at start (small ones for the tiny weights)."""
    return TINY_WARMUP_SIZES if settings.weights == TINY else WARMUP_SIZES


def load_engine(settings: Settings) -> QwenImageEditEngine:
    """The engine `settings` ask for; compiled (not yet warmed up) under `settings.compile`."""
    weights = resolve_weights(settings)
    checker = None
    engine = QwenImageEditEngine.load(
        weights,
        device=settings.device,
        dtype=settings.dtype,
        cpu_offload=settings.cpu_offload,
        attention_backend=settings.attention_backend,
        lightning_lora=lightning_lora_for(settings),
        lora_cache=settings.lora_cache,
        group_offload=settings.group_offload,
        quantize=settings.quantize,
    )
    if settings.compile:
        engine.compile()
    if settings.load_safety_checker:
        checker = NsfwClassifier.load(resolve_safety_weights(settings), device=engine.device)
        engine.safety_checker = checker
    return engine
