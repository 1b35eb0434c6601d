"""Build the engine a worker (or the one-shot CLI) runs, from `Settings`."""

from __future__ import annotations

import logging
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.tiny_weights import ensure_tiny_checkpoint
from pixelrun.safety import DEFAULT_SAFETY_WEIGHTS, NsfwClassifier, save_tiny_classifier

log = logging.getLogger(__name__)

TINY = "tiny"


def resolve_weights(settings: Settings) -> str | Path:
    """`tiny` → the generated checkpoint in the data dir (made on first use); else as given."""
    if settings.weights == TINY:
        return ensure_tiny_checkpoint(settings.tiny_weights_dir)
    return settings.weights


def resolve_safety_weights(settings: Settings) -> str | Path:
    if settings.safety_weights:
        return settings.safety_weights
    if settings.weights == TINY:
        directory = settings.data_dir / "weights" / "tiny-safety"
        if not (directory / "config.json").is_file():
            save_tiny_classifier(directory)
        return directory
    return DEFAULT_SAFETY_WEIGHTS


def load_engine(settings: Settings) -> QwenImageEditEngine:
    weights = resolve_weights(settings)
    checker = None
    engine = QwenImageEditEngine.load(
        weights,
        device=settings.device,
        dtype=settings.dtype,
        cpu_offload=settings.cpu_offload,
        attention_backend=settings.attention_backend,
    )
    if settings.load_safety_checker:
        checker = NsfwClassifier.load(resolve_safety_weights(settings), device=engine.device)
        engine.safety_checker = checker
    return engine
