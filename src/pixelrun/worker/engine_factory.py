"""Build the engine a worker (or the one-shot CLI) runs, from `Settings`."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
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
