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

from pixelrun.api.compat import ERROR_SHAPES
from pixelrun.api.compat.replicate import PredictionCreate
from pixelrun.api.models_catalog import CATALOG, CatalogModel
from pixelrun.api.wire import RunCreate
from pixelrun.config import Settings
from pixelrun.engines.input_rules import NO_NUL_PATTERN

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


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    paths: dict[str, Any] = document["paths"]
    for generic, (template, params, base, suffix) in _GENERIC_CREATES.items():
        item = paths.pop(generic, None)
        if item is None:
            continue
        for model in CATALOG.values():
            body_name = f"{_title(model)}{suffix}"
            _add_component(components, _body_model(base, model, body_name), body_name)
            paths[template.format(id=model.id)] = _per_model(item, model, params, body_name)
    # GET /v1/models/{model_id}: one path per model too (a model id holds a slash, which an
    # OpenAPI path parameter cannot).
    model_item = paths.pop("/v1/models/{model_id}", None)
    if model_item is not None:
        for model in CATALOG.values():
            paths[f"/v1/models/{model.id}"] = _without_params(model_item, model, ("model_id",))
    # The signed file route takes a storage key, slashes and all, which an OpenAPI path
    # parameter cannot hold; every URL it signs is a run's output (`runs/<id>/<n>.<ext>`).
    # Written out so, it is no longer the same path as Replicate's /v1/files/{file_id}.
    signed = paths.pop("/v1/files/{path}", None)
    if signed is not None:
        paths["/v1/files/runs/{run_id}/{name}"] = _output_file_item(signed)
    # Limits that are settings, not constants.
    upload = components.get("AssetUploadCreate", {}).get("properties", {}).get("size_bytes")
    if upload is not None:
        upload["maximum"] = settings.max_upload_bytes
    request_schemas: list[Any] = []
    for path, item in paths.items():
        for operation in item.values():
            # Path parameters stay as they are: a NUL there is refused before routing (400,
            # documented on every operation), and a pattern makes them hard to generate.
            request_schemas += [
                parameter.get("schema", {})
                for parameter in operation.get("parameters", [])
                if parameter.get("in") != "path"
            ]
            request_schemas += [
                m.get("schema", {}) for m in operation.get("requestBody", {}).get("content", {}).values()
            ]
            _document_errors(path, operation)
    # Only what clients send: responses may echo anything back (an error names a bad key).
    for name in _referenced(request_schemas, components):
        _exact_strings(components[name])
    for schema in request_schemas:
        _exact_strings(schema)
    components[JSON_VALUE] = _json_value_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return document


# ---- strings and free-form JSON: what the store takes ----

JSON_VALUE = "JsonValue"
_JSON_VALUE_REF = {"$ref": COMPONENT_REF.format(model=JSON_VALUE)}
_NO_NUL_NAMES = {"pattern": NO_NUL_PATTERN}


def _json_value_schema() -> dict[str, Any]:
    """Any JSON value without NUL characters (PostgreSQL refuses them; so does the API)."""
    return {
        "description": "Any JSON value; strings (and keys) without NUL characters.",
        "anyOf": [
            {"type": "string", "pattern": NO_NUL_PATTERN},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": _JSON_VALUE_REF},
            {"type": "object", "additionalProperties": _JSON_VALUE_REF, "propertyNames": _NO_NUL_NAMES},
        ],
    }


def _referenced(roots: list[Any], components: dict[str, Any]) -> set[str]:
    """Names of the components that `roots` use, directly or through other components."""
    found: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found and name in components:
                    found.add(name)
                    stack.append(components[name])
            stack.extend(node.values())
    return found


def _exact_strings(node: Any) -> None:
    """Add the rules every string obeys (no NUL) to schemas that do not say more already,
    and make free-form objects say that their values are JSON without NUL."""
    if isinstance(node, list):
        for item in node:
            _exact_strings(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and not {"pattern", "enum", "const", "format"} & node.keys():
        node["pattern"] = NO_NUL_PATTERN
    if kind == "object" and node.get("additionalProperties", True) is True and "properties" not in node:
        node["additionalProperties"] = dict(_JSON_VALUE_REF)
        node["propertyNames"] = dict(_NO_NUL_NAMES)
    for key, value in node.items():
        if key not in ("enum", "const", "default", "examples", "example"):
            _exact_strings(value)


# ---- errors: every status a route can answer, in the shape it answers with ----


def _error_ref(path: str) -> dict[str, str]:
    if ERROR_SHAPES[0].matches(path):
        name = "OpenAIErrorOut"
    elif ERROR_SHAPES[1].matches(path):
        name = "ReplicateErrorOut"
    else:
        name = "ErrorOut"
    return {"$ref": COMPONENT_REF.format(model=name)}


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    schema = _error_ref(path)

    def ensure(status: int, description: str) -> None:
        response = responses.setdefault(str(status), {"description": description})
        content = response.get("content", {}).get("application/json", {}).get("schema", {})
        if not content or "HTTPValidationError" in str(content):
            response["content"] = {"application/json": {"schema": schema}}

    ensure(
        400, responses.get("400", {}).get("description", "Bad request: NUL in the URL, or a malformed body")
    )
    if operation.get("security"):
        ensure(401, "Missing or invalid API key")
    if "requestBody" in operation:
        ensure(413, "The body is over the configured limit")
    ensure(
        503,
        responses.get("503", {}).get("description", "The store cannot be reached right now (Retry-After)"),
    )
    validates = "requestBody" in operation or operation.get("parameters")
    if "422" in responses or (validates and not ERROR_SHAPES[0].matches(path)):
        ensure(422, responses.get("422", {}).get("description", "Validation error"))
    for status in list(responses):
        if status.startswith(("4", "5")):
            ensure(int(status), responses[status].get("description", ""))


def _output_file_item(item: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy(item)
    for operation in item.values():
        params = [p for p in operation.get("parameters", []) if p.get("name") != "path"]
        for name, description in (("name", "The file name, e.g. 0.png"), ("run_id", "The run's id")):
            schema = {"type": "string", "description": description}
            params.insert(0, {"name": name, "in": "path", "required": True, "schema": schema})
        operation["parameters"] = params
    return item


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


def _without_params(item: dict[str, Any], model: CatalogModel, params: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a path item for one model: its path parameters gone, its operation ids its own."""
    item = copy.deepcopy(item)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", model.id).strip("_")
    for operation in item.values():
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") not in params]
        if not operation["parameters"]:
            del operation["parameters"]
        operation["operationId"] = f"{operation.get('operationId', 'operation')}_{slug}"
        operation["summary"] = f"{operation.get('summary', '')}: {model.name}"
    return item


def _per_model(
    item: dict[str, Any], model: CatalogModel, params: tuple[str, ...], body: str
) -> dict[str, Any]:
    item = _without_params(item, model, params)
    for operation in item.values():
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": COMPONENT_REF.format(model=body)}}},
        }
    return item
