"""Which model ids a worker serves (`PIXELRUN_MODELS` / `--models`), checked without importing torch."""

from __future__ import annotations

from pixelrun.config import Settings
from pixelrun.engines.registry import MODELS


def served_models(settings: Settings) -> list[str]:
    """The model ids of `settings.models` (default: every registered model), in order, each
    once; `ValueError` for one the registry lacks, or for models that need different engines
    (one worker loads one engine)."""
    asked = list(MODELS) if settings.models is None else settings.models
    unknown = [model for model in asked if model not in MODELS]
    if unknown or not asked:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(unknown) or '(empty)'} not served by this engine; "
            f"choose from {', '.join(MODELS)}"
        )
    models = list(dict.fromkeys(asked))
    if len({MODELS[model].load_engine for model in models}) > 1:
        raise ValueError(
            f"PIXELRUN_MODELS / --models: {', '.join(models)} are served by different engines; "
            "start one worker for each engine's models"
        )
    return models
