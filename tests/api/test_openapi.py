"""The served OpenAPI document is exact: per-model input schemas, every error status in
the shape its route answers with, the compatibility routes (schemathesis checks the rest
against a real server: tests/compat/test_schemathesis.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pixelrun.api.models_catalog import CATALOG

ERROR_REF = "#/components/schemas/{}"


def _schema_ref(response: dict) -> str:
    return response["content"]["application/json"]["schema"]["$ref"]


def test_each_catalog_model_has_create_routes_with_its_input_schema(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    assert "/v1/models/{model_id}/runs" not in doc["paths"]
    for model_id in CATALOG:
        for suffix in ("runs", "predictions"):
            operation = doc["paths"][f"/v1/models/{model_id}/{suffix}"]["post"]
            body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            body = components[body_ref.rsplit("/", 1)[1]]
            input_ref = body["properties"]["input"]["$ref"]
            input_schema = components[input_ref.rsplit("/", 1)[1]]
            assert {"prompt", "image_urls", "num_images"} <= set(input_schema["properties"])
            assert "image_urls" in input_schema["required"]


def test_every_error_status_is_documented_in_its_routes_shape(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        if path.startswith("/v1/images/"):
            shape = "OpenAIErrorOut"
        elif re.match(r"^/v1/(predictions|models/.+/predictions)", path):
            shape = "ReplicateErrorOut"
        else:
            shape = None
        for method, operation in item.items():
            responses = operation["responses"]
            assert "400" in responses and "503" in responses, (path, method)
            if operation.get("security"):
                assert "401" in responses, (path, method)
            for status, response in responses.items():
                if status.startswith("4") and shape is not None:
                    assert _schema_ref(response) == ERROR_REF.format(shape), (path, method, status)
            assert "HTTPValidationError" not in str(responses), (path, method)


def test_the_openai_form_is_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/images/edits"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"image", "image[]", "prompt", "n", "size", "response_format", "output_format", "seed"} <= set(
        form["properties"]
    )
    assert form["additionalProperties"] is False and form["required"] == ["prompt"]
    assert set(operation["responses"]) >= {"200", "400", "401", "504"}
