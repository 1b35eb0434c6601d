"""Authentication: `Authorization: Bearer <key>`; every failure is 401 with WWW-Authenticate."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from pixelrun.store import Store

from .conftest import Caller, assert_envelope

PROTECTED = [
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/statuses"),
    ("GET", "/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
    ("POST", "/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/cancellation"),
    ("GET", "/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/logs"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/alibaba/qwen-image-edit-2511"),
    ("GET", "/v1/auth/me"),
    ("GET", "/v1/billing/balance"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_key_is_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer px_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "px_no_scheme", "Bearer"],
)
def test_wrong_or_malformed_key_is_401(client: TestClient, authorization: str) -> None:
    response = client.get("/v1/auth/me", headers={"Authorization": authorization})
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_key_is_401_once_the_cached_lookup_expires(
    client: TestClient, caller: Caller, store: Store
) -> None:
    from pixelrun.api.auth_cache import AuthCache

    now = [0.0]
    state = client.app.state  # type: ignore[attr-defined]
    real = state.services
    state.services = dataclasses.replace(real, auth_cache=AuthCache(2.0, clock=lambda: now[0]))
    try:
        assert client.get("/v1/auth/me", headers=caller.headers).status_code == 200
        assert store.keys.revoke(caller.key_id)
        # Within the cache's lifetime the lookup is reused (documented: at most 2 s by default).
        now[0] = 1.9
        assert client.get("/v1/auth/me", headers=caller.headers).status_code == 200
        now[0] = 2.1
        assert_envelope(client.get("/v1/auth/me", headers=caller.headers), 401, "UNAUTHORIZED")
        now[0] = 10.0
        assert_envelope(client.get("/v1/auth/me", headers=caller.headers), 401, "UNAUTHORIZED")
    finally:
        state.services = real


def test_scheme_is_case_insensitive(client: TestClient, caller: Caller) -> None:
    response = client.get("/v1/auth/me", headers={"Authorization": f"bearer {caller.key}"})
    assert response.status_code == 200
