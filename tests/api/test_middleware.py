"""Request id, body-size limit (declared and streamed), URL hygiene."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from fastapi.testclient import TestClient

from .conftest import MAX_BODY_BYTES, MODEL, Caller, LiveServer, assert_envelope, valid_input


def test_body_over_the_limit_by_content_length_is_413(client: TestClient, caller: Caller) -> None:
    payload = b'{"input": {"prompt": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=payload,
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_body_just_under_the_limit_is_read(client: TestClient, caller: Caller) -> None:
    body = {"input": valid_input(), "metadata": {"pad": "x" * (MAX_BODY_BYTES - 200)}}
    response = client.post(f"/v1/models/{MODEL}/runs", json=body, headers=caller.headers)
    assert response.status_code == 201, response.text


def test_the_key_is_checked_before_the_size(client: TestClient) -> None:
    # A stranger learns nothing about the limits and costs the server no body read.
    response = client.post(f"/v1/models/{MODEL}/runs", content=b"x" * (MAX_BODY_BYTES + 1))
    assert_envelope(response, 401, "UNAUTHORIZED")
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"Authorization": "Bearer px_not_a_key"},
    )
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response.headers["connection"] == "close"


def test_chunked_body_over_the_limit_is_413_while_reading(live_server: LiveServer, caller: Caller) -> None:
    # No Content-Length: the limit must trip on the bytes as they arrive.
    def chunks() -> Iterator[bytes]:
        yield b'{"input": {"prompt": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"x" * 4096
        yield b'"}}'

    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        response = http.post(
            f"/v1/models/{MODEL}/runs",
            content=chunks(),
            headers={**caller.headers, "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_under_the_limit_works(live_server: LiveServer, caller: Caller) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"input": {"prompt": "chunked", '
        yield b'"image_urls": ["https://example.com/a.png"]}}'

    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        response = http.post(
            f"/v1/models/{MODEL}/runs",
            content=chunks(),
            headers={**caller.headers, "Content-Type": "application/json"},
        )
    assert response.status_code == 201, response.text


def test_nul_in_path_or_query_is_400(client: TestClient, caller: Caller) -> None:
    assert_envelope(client.get("/v1/runs/abc%00def", headers=caller.headers), 400, "BAD_REQUEST")
    assert_envelope(client.get("/v1/runs?model_id=a%00b", headers=caller.headers), 400, "BAD_REQUEST")
