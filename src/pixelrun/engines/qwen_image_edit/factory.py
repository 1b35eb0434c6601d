"""Build the Qwen engine a worker (or the one-shot CLI) runs, from `Settings` and the served model ids."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit.adapters import LoraError
from pixelrun.engines.qwen_image_edit.compilation import TINY_WARMUP_SIZES, WARMUP_SIZES
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import resolve_lightning_lora
from pixelrun.engines.qwen_image_edit.models import LIGHTNING_MODEL_ID, MODEL_ID
from pixelrun.engines.qwen_image_edit.tiny_weights import ensure_tiny_checkpoint
from pixelrun.safety import DEFAULT_SAFETY_WEIGHTS, NsfwClassifier
from pixelrun.weights.bundle import LIGHTNING, SAFETY, is_bundle
from pixelrun.weights.checkpoint import describe_problems, model_folder_problems
from pixelrun.weights.source import is_hub_id, locate_weights
from pixelrun.weights.tiny import (
    is_tiny,
    lightning_problems,
    regenerate_advice,
    tiny_lightning_lora,
    tiny_safety_weights,
)
from pixelrun.weights.unavailable import WeightsUnavailable

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
    """`tiny` → the generated checkpoint in the data dir (made on first use); else the
    checked directory or Hub id (`WeightsUnavailable` when it cannot be loaded)."""
    if settings.weights == TINY:
        with generation_lock(settings):
            return ensure_tiny_checkpoint(settings.tiny_weights_dir)
    return locate_weights(settings.weights)


def tiny_root(settings: Settings) -> Path | None:
    """The tiny weights directory `settings` serve (`tiny`, or a `pixelrun tiny-weights DIR`)."""
    if settings.weights == TINY:
        return Path(resolve_weights(settings))
    if is_hub_id(settings.weights):
        return None
    root = Path(settings.weights).expanduser()
    return root if is_tiny(root) else None


def lightning_lora_for(settings: Settings, models: Sequence[str]) -> Path | None:
    """The Lightning LoRA file when the Lightning model is among `models`; tiny weights carry a tiny one."""
    if LIGHTNING_MODEL_ID not in models:
        return None
    tiny = tiny_root(settings) if "lightning_lora" not in settings.model_fields_set else None
    if tiny is not None:
        found = lightning_problems(tiny)
        if found:
            raise WeightsUnavailable(
                "incomplete",
                f"tiny weights {tiny}: the Lightning LoRA is missing ({describe_problems(found)}); "
                f"{regenerate_advice(tiny)}, or serve only --models {MODEL_ID}",
            )
        return tiny_lightning_lora(tiny)
    root = Path(settings.weights).expanduser()
    if "lightning_lora" not in settings.model_fields_set and is_bundle(root):
        # `--weights` names a `pixelrun weights download` folder: its Lightning LoRA is used.
        assert LIGHTNING.filename is not None
        return resolve_lightning_lora(root / LIGHTNING.folder / LIGHTNING.filename)
    return resolve_lightning_lora(settings.lightning_lora)


def resolve_safety_weights(settings: Settings) -> str | Path:
    if settings.safety_weights:
        return locate_weights(settings.safety_weights, problems=model_folder_problems, what="safety weights")
    tiny = tiny_root(settings)
    if tiny is not None:
        directory = tiny_safety_weights(tiny)
        found = model_folder_problems(directory)
        if found:
            raise WeightsUnavailable(
                "incomplete",
                f"tiny weights {tiny}: the safety classifier is missing ({describe_problems(found)}); "
                f"{regenerate_advice(tiny)}, or turn it off with PIXELRUN_LOAD_SAFETY_CHECKER=0",
            )
        return directory
    root = Path(settings.weights).expanduser()
    if is_bundle(root):
        # `--weights` names a `pixelrun weights download` folder: its classifier is used.
        return locate_weights(root / SAFETY.folder, problems=model_folder_problems, what="safety weights")
    return locate_weights(DEFAULT_SAFETY_WEIGHTS, problems=model_folder_problems, what="safety weights")


def warmup_sizes(settings: Settings) -> tuple[tuple[int, int], ...]:
    """Output sizes a compiled engine warms up at start (small ones for the tiny weights)."""
    return TINY_WARMUP_SIZES if settings.weights == TINY else WARMUP_SIZES


def build_engine(settings: Settings, models: Sequence[str]) -> QwenImageEditEngine:
    """The engine `settings` ask for, serving `models`; compiled (not yet warmed up) under
    `settings.compile`.

    Raises `WeightsUnavailable` (one line that says why and what to do) when it cannot."""
    weights = resolve_weights(settings)
    safety_weights = resolve_safety_weights(settings) if settings.load_safety_checker else None
    lightning_lora = lightning_lora_for(settings, models)
    checker = None
    try:
        engine = QwenImageEditEngine.load(
            weights,
            device=settings.device,
            dtype=settings.dtype,
            cpu_offload=settings.cpu_offload,
            attention_backend=settings.attention_backend,
            lightning_lora=lightning_lora,
            lora_cache=settings.lora_cache,
            group_offload=settings.group_offload,
            quantize=settings.quantize,
        )
    except LoraError as error:
        raise WeightsUnavailable("load_error", f"Lightning {error}; check PIXELRUN_LIGHTNING_LORA") from error
    engine.warmup_sizes = warmup_sizes(settings)
    if settings.compile:
        engine.compile()
    if safety_weights is not None:
        try:
            checker = NsfwClassifier.load(safety_weights, device=engine.device)
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise WeightsUnavailable(
                "load_error", f"safety weights {safety_weights}: could not be loaded ({first_line[:300]})"
            ) from error
        engine.safety_checker = checker
    return engine
