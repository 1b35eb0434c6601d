"""Every model Pixelrun serves, by id: the one list that the API catalog, the worker and
the settings read (docs/adding-a-model.md). Torch-free.

A model package declares its entries as `MODELS` (a sequence of `ModelSpec`) in its
torch-free top level; adding a model is that package plus one line in `PACKAGES`.
"""

from __future__ import annotations

import importlib

from pixelrun.engines.model_spec import ModelSpec

#: The model packages, one line each, in the order `/v1/models` lists their models.
PACKAGES = ("pixelrun.engines.qwen_image_edit",)


def _index(packages: tuple[str, ...]) -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for package in packages:
        for spec in importlib.import_module(package).MODELS:
            if spec.id in models:
                raise ValueError(f"model id {spec.id} is registered twice ({package})")
            models[spec.id] = spec
    return models


MODELS: dict[str, ModelSpec] = _index(PACKAGES)

#: The model a request that names none gets (the OpenAI-compatible route): the first one.
DEFAULT_MODEL_ID = next(iter(MODELS))


def get_model(model_id: str) -> ModelSpec | None:
    return MODELS.get(model_id)


def model_ids() -> list[str]:
    """Every registered id, in registry order: what a worker serves by default."""
    return list(MODELS)
