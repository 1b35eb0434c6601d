"""Retries of the SDK (429/503/network errors, creates only with an idempotency key),
error mapping and the SSE parser, on an in-process httpx transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from pixelrun.client import (
    APIConnectionError,
    AsyncPixelrun,
    ConflictError,
    Pixelrun,
    RateLimitedError,
    RunNotFoundError,
    UnavailableError,
)
from pixelrun.client.sse import SseParser

RUN = {
    "id": "r1",
    "model_id": "m",
    "status_code": "queued",
    "input": {},
    "created_at": "2026-01-01T00:00:00+00:00",
}


def client(handler: Callable[[httpx.Request], httpx.Response], retries: int = 3) -> Pixelrun:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Pixelrun(base_url="http://px.test", api_key="k", max_retries=retries, http_client=http)


def flaky(
    failures: list[httpx.Response | Exception],
) -> tuple[Callable[[httpx.Request], httpx.Response], list]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if failures:
            outcome = failures.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return httpx.Response(201 if request.method == "POST" else 200, json=RUN)

    return handler, seen


def busy() -> httpx.Response:
    return httpx.Response(503, json={"code": "UNAVAILABLE", "message": "busy", "errors": None})


def test_gets_retry_on_503_429_and_network_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    limited = httpx.Response(
        429,
        json={"code": "RATE_LIMITED", "message": "slow down", "errors": None},
        headers={"Retry-After": "1"},
    )
    handler, seen = flaky([busy(), limited, httpx.ConnectError("refused")])
    assert client(handler).runs.get("r1").id == "r1"
    assert len(seen) == 4 and all(request.headers["authorization"] == "Bearer k" for request in seen)


def test_retries_give_up_with_the_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    handler, seen = flaky([busy() for _ in range(10)])
    with pytest.raises(UnavailableError):
        client(handler, retries=2).runs.get("r1")
    assert len(seen) == 3
    handler, seen = flaky([httpx.ConnectError("refused") for _ in range(10)])
    with pytest.raises(APIConnectionError):
        client(handler, retries=1).runs.get("r1")
    assert len(seen) == 2


def test_creates_carry_an_idempotency_key_that_retries_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    handler, seen = flaky([busy(), httpx.ReadError("reset")])
    client(handler).runs.create("m", input={"prompt": "x"})
    keys = {request.headers["idempotency-key"] for request in seen}
    assert len(seen) == 3 and len(keys) == 1 and next(iter(keys)).startswith("pxsdk-")
    handler, seen = flaky([])
    client(handler).runs.create("m", input={}, idempotency_key="mine", wait=5)
    assert seen[0].headers["idempotency-key"] == "mine" and seen[0].headers["prefer"] == "wait=5"


def test_other_errors_are_not_retried_and_map_to_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    for status, code, cls in [(404, "RUN_NOT_FOUND", RunNotFoundError), (409, "CONFLICT", ConflictError)]:
        handler, seen = flaky([httpx.Response(status, json={"code": code, "message": "m", "errors": None})])
        with pytest.raises(cls) as caught:
            client(handler).runs.get("r1")
        assert len(seen) == 1 and caught.value.code == code and caught.value.status_code == status
    limited = httpx.Response(
        429, json={"code": "RATE_LIMITED", "message": "m", "errors": None}, headers={"Retry-After": "7"}
    )
    handler, _ = flaky([limited])
    with pytest.raises(RateLimitedError) as caught:
        client(handler, retries=0).runs.get("r1")
    assert caught.value.retry_after == 7


def test_async_client_retries_too() -> None:
    handler, seen = flaky([busy()])

    async def go() -> str:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncPixelrun(base_url="http://px.test", api_key="k", http_client=http) as px:
            run = await px.runs.get("r1")
        await http.aclose()
        return run.id

    assert asyncio.run(go()) == "r1" and len(seen) == 2


def test_sse_parser() -> None:
    parser = SseParser()
    lines = [
        ": keep-alive",
        "",
        "id: 3",
        "event: progress",
        'data: {"step":1,',
        'data: "steps":2}',
        "",
        "data: x",
        "",
    ]
    events = [event for line in lines if (event := parser.feed(line)) is not None]
    assert [(e.id, e.event, e.data) for e in events] == [
        ("3", "progress", '{"step":1,\n"steps":2}'),
        ("3", "message", "x"),  # the last event id carries over, as in browsers
    ]
