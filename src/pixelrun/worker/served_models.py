"""Which model ids a worker serves (`PIXELRUN_MODELS` / `--models`), checked without importing torch."""

from __future__ import annotations

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import INPUT_MODELS


def served_models(settings: Settings) -> list[str]:
    """The model ids of `settings.models`, in order, each once; `ValueError` for one this engine lacks."""
    unknown = [model for model in settings.models if model not in INPUT_MODELS]
    if unknown or not settings.models:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(unknown) or '(empty)'} not served by this engine; "
            f"choose from {', '.join(INPUT_MODELS)}"
        )
    return list(dict.fromkeys(settings.models))
