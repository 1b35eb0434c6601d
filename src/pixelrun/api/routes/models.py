"""The model catalog: ids, pricing, input and output JSON Schema, availability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.convertors import StringConvertor, register_url_convertor

from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError
from pixelrun.api.models_catalog import CATALOG, CatalogModel
from pixelrun.api.wire import ErrorOut, ModelOut
from pixelrun.store import Store


class ModelIdConvertor(StringConvertor):
    """A model id in a path: slashes allowed, but not ending in `/runs` or `/predictions`,
    which are the create routes under a model (POST only: GET there is a 405, not an
    unknown model)."""

    regex = r"[^/].*?(?<!/runs)(?<!/predictions)"


register_url_convertor("model_id", ModelIdConvertor())

router = APIRouter(
    tags=["models"],
    responses={401: {"model": ErrorOut, "description": "Missing or invalid API key"}},
)


def _present(model: CatalogModel, store: Store) -> ModelOut:
    availability = store.availability.summary([model.id])[model.id]
    return model.to_wire(availability.ready, availability.loading, availability.last_failure)


@router.get("/models", response_model=list[ModelOut], summary="List the models")
def list_models(auth: CurrentAuth, services: ServicesDep) -> list[ModelOut]:
    return [_present(model, services.store) for model in CATALOG.values()]


@router.get(
    "/models/{model_id:model_id}",
    response_model=ModelOut,
    summary="Get a model",
    responses={
        404: {"model": ErrorOut, "description": "MODEL_NOT_FOUND"},
        405: {"model": ErrorOut, "description": "GET on a model's create route (POST only)"},
    },
)
def get_model(
    model_id: Annotated[str, Path(description="e.g. alibaba/qwen-image-edit-2511")],
    auth: CurrentAuth,
    services: ServicesDep,
) -> ModelOut:
    model = CATALOG.get(model_id)
    if model is None:
        raise ApiError(404, "MODEL_NOT_FOUND", f"Model {model_id!r} not found.")
    return _present(model, services.store)
