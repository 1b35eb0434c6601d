"""The served OpenAPI document, made exact where FastAPI's own is not.

Runtime routes take any model id (`/v1/models/{model_id:path}/runs`) and check the input
against the catalog; the document instead shows one create route per catalog model,
each with that model's input schema, so that generated clients (and schemathesis) know
every input field. The multipart form of the OpenAI route, parsed by hand at runtime,
is added as a component too.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, create_model

from pixelrun.api.compat.openai import OpenAIEditForm
from pixelrun.api.compat.replicate import PredictionCreate
from pixelrun.api.models_catalog import CATALOG, CatalogModel
from pixelrun.api.wire import RunCreate

COMPONENT_REF = "#/components/schemas/{model}"

# Generic runtime path → (the per-model path, the path parameters it replaces, the body base).
_GENERIC_CREATES: dict[str, tuple[str, tuple[str, ...], type[BaseModel], str]] = {
    "/v1/models/{model_id}/runs": ("/v1/models/{id}/runs", ("model_id",), RunCreate, "RunCreate"),
    "/v1/models/{owner}/{name}/predictions": (
        "/v1/models/{id}/predictions",
        ("owner", "name"),
        PredictionCreate,
        "PredictionCreate",
    ),
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _add_component(components, OpenAIEditForm, "OpenAIEditForm")
    paths: dict[str, Any] = document["paths"]
    for generic, (template, params, base, suffix) in _GENERIC_CREATES.items():
        item = paths.pop(generic, None)
        if item is None:
            continue
        for model in CATALOG.values():
            body_name = f"{_title(model)}{suffix}"
            _add_component(components, _body_model(base, model, body_name), body_name)
            paths[template.format(id=model.id)] = _per_model(item, model, params, body_name)
    return document


def _title(model: CatalogModel) -> str:
    title = model.input_model.model_config.get("title") or model.input_model.__name__
    return re.sub(r"Input$", "", str(title))


def _body_model(base: type[BaseModel], model: CatalogModel, name: str) -> type[BaseModel]:
    return create_model(
        name,
        __base__=base,
        input=(model.input_model, Field(description=f"The input of {model.id}.")),
    )


def _add_component(components: dict[str, Any], model: type[BaseModel], name: str) -> None:
    schema = model.model_json_schema(ref_template=COMPONENT_REF, by_alias=True)
    for def_name, definition in schema.pop("$defs", {}).items():
        components.setdefault(def_name, definition)
    components[name] = schema


def _per_model(
    item: dict[str, Any], model: CatalogModel, params: tuple[str, ...], body: str
) -> dict[str, Any]:
    item = copy.deepcopy(item)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", model.id).strip("_")
    for operation in item.values():
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") not in params]
        if not operation["parameters"]:
            del operation["parameters"]
        operation["operationId"] = f"{operation.get('operationId', 'create')}_{slug}"
        operation["summary"] = f"{operation.get('summary', 'Create')}: {model.name}"
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": COMPONENT_REF.format(model=body)}}},
        }
    return item
