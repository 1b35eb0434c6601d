"""Every error leaves the API in the error envelope (docs/api.md#errors)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pixelrun.api.errors import ApiError, field_errors

from .conftest import MODEL, Caller, assert_envelope


def test_unknown_route_is_404_not_found(client: TestClient) -> None:
    body = assert_envelope(client.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert body["errors"] is None
    # "/" is the playground (docs/playground.md); other paths outside /v1 are still the envelope.
    assert_envelope(client.get("/nothing-here"), 404, "NOT_FOUND")
    assert_envelope(client.get("/playground/static/nothing.js"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow_header(client: TestClient, caller: Caller) -> None:
    response = client.delete("/v1/runs", headers=caller.headers)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_400(client: TestClient, caller: Caller) -> None:
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=b'{"input": {"prompt": ',
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert_envelope(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_body_with_wrong_content_type_is_400(
    client: TestClient, caller: Caller, content_type: str | None
) -> None:
    headers = dict(caller.headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(f"/v1/models/{MODEL}/runs", content=b'{"input": {}}', headers=headers)
    assert_envelope(response, 400, "BAD_REQUEST")


def test_json_suffix_content_type_is_accepted(client: TestClient, caller: Caller) -> None:
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=b'{"input": {"prompt": "x", "image_urls": ["https://e.com/a.png"]}}',
        headers={**caller.headers, "Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


def test_empty_body_is_400(client: TestClient, caller: Caller) -> None:
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=b"",
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert_envelope(response, 400, "BAD_REQUEST")


def test_validation_error_lists_loc_msg_type_only(client: TestClient, caller: Caller) -> None:
    response = client.get("/v1/runs?limit=0", headers=caller.headers)
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["errors"] == [
        {"loc": ["query", "limit"], "msg": body["errors"][0]["msg"], "type": "greater_than_equal"}
    ]


def test_api_error_carries_extra_fields_and_headers(app: FastAPI) -> None:
    @app.get("/v1/test-teapot")
    def teapot() -> None:
        raise ApiError(418, "TEAPOT", "short and stout", headers={"X-Extra": "1"}, extra={"spout": True})

    with TestClient(app) as client:
        response = client.get("/v1/test-teapot")
    body = assert_envelope(response, 418, "TEAPOT")
    assert body["spout"] is True
    assert response.headers["x-extra"] == "1"


def test_unexpected_exception_is_500_with_request_id_and_logged_traceback(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/v1/test-boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="pixelrun.api"):
        response = client.get("/v1/test-boom")
    body = assert_envelope(response, 500, "INTERNAL")
    request_id = response.headers["x-request-id"]
    assert request_id in body["message"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert "secret internals" in str(records[0].exc_info[1])


def test_unexpected_exception_in_async_route_is_500_too(app: FastAPI) -> None:
    @app.get("/v1/test-async-boom")
    async def boom() -> None:
        raise ValueError("nope")

    with TestClient(app) as client:
        assert_envelope(client.get("/v1/test-async-boom"), 500, "INTERNAL")


def test_field_errors_prefix_the_location_and_drop_input_and_ctx() -> None:
    raw = [
        {"loc": ("num_images",), "msg": "too big", "type": "less_than_equal", "input": 9, "ctx": {"le": 4}}
    ]
    assert field_errors(raw, ("body", "input")) == [
        {"loc": ["body", "input", "num_images"], "msg": "too big", "type": "less_than_equal"}
    ]
