"""Which model ids a worker serves (`PIXELRUN_MODELS` / `--models`), checked without importing torch."""

from __future__ import annotations

from pixelrun.config import Settings
from pixelrun.engines.registry import MODELS


def served_models(settings: Settings) -> list[str]:
    """The model ids of `settings.models`, in order, each once; `ValueError` for one the registry
    lacks, or for models that need different engines (one worker loads one engine)."""
    unknown = [model for model in settings.models if model not in MODELS]
    if unknown or not settings.models:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(unknown) or '(empty)'} not served by this engine; "
            f"choose from {', '.join(MODELS)}"
        )
    models = list(dict.fromkeys(settings.models))
    if len({MODELS[model].load_engine for model in models}) > 1:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(models)} are served by different engines; "
            "start one worker for each engine's models"
        )
    return models
