"""Fixtures for the API tests: a real app on SQLite (temp dir) and on PostgreSQL.

PostgreSQL: one database per test session (per xdist worker), created on the admin
database and dropped at the end; tables are emptied between tests (the approach of
tests/store/conftest.py). PIXELRUN_TEST_POSTGRES_URL points at another server;
PIXELRUN_TEST_SKIP_POSTGRES=1 skips the PostgreSQL half.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.store import Store
from pixelrun.store.tables import metadata

SKIP_POSTGRES = os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1"

MODEL = "alibaba/qwen-image-edit-2511"
BASE_URL = "http://pixelrun.test"
MAX_BODY_BYTES = 64 * 1024
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def valid_input(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": "make the sky orange", "image_urls": ["https://example.com/a.png"]}
    body.update(overrides)
    return body


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope (docs/api.md#errors), with the request id header every response carries."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message", "errors"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert response.headers.get("x-request-id")
    return body


@pytest.fixture(scope="session")
def postgres_store(postgres_databases: Any) -> Iterator[Store]:
    store = Store(postgres_databases.create())
    store.migrate()
    yield store
    store.close()


@dataclass
class Backend:
    """One back end for the whole session: its store, settings, app and client.

    FastAPI builds each route's matching context on first use (~80 ms per app), so the
    app is shared and only the tables are emptied between tests.
    """

    name: str
    store: Store
    settings: Settings
    app: FastAPI
    client: TestClient


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        public_base_url=BASE_URL,
        max_body_bytes=MAX_BODY_BYTES,
        signing_secret="s" * 32,
        max_attempts=2,
        # The app is shared by the whole session and most tests run without a worker:
        # never refuse creates here (tests/api/test_model_gate.py tests the refusal).
        model_grace_seconds=-1,
        # No retention janitor in the shared app: tests/maintenance/test_retention.py
        # runs its own, on a store of its own.
        retention_hours=0,
    )


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    root = tmp_path_factory.mktemp(str(request.param))
    if request.param == "postgres":
        shared: Store = request.getfixturevalue("postgres_store")
    else:
        shared = Store(f"sqlite:///{root / 'pixelrun.db'}")
        shared.migrate()
    settings = _settings(root / "data")
    app = create_app(settings, shared)
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield Backend(str(request.param), shared, settings, app, test_client)
    if request.param == "sqlite":
        shared.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    """The backend's store, emptied (DELETE beats TRUNCATE on tables this small)."""
    with backend.store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return backend.store


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings


@pytest.fixture
def client(backend: Backend, store: Store) -> TestClient:
    return backend.client


@pytest.fixture
def app(store: Store, tmp_path: Path) -> FastAPI:
    """A fresh app on the emptied store, for tests that add routes or serve it with uvicorn."""
    return create_app(_settings(tmp_path / "data"), store)


@dataclass(frozen=True)
class Caller:
    owner_id: str
    key_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


MakeCaller = Callable[..., Caller]


@pytest.fixture
def make_caller(store: Store) -> MakeCaller:
    def make(name: str = "acme", budget_micros: int | None = None, label: str = "test key") -> Caller:
        owner = store.owners.ensure(name, budget_micros)
        record, plain = store.keys.create(owner.id, label)
        return Caller(owner_id=owner.id, key_id=record.id, key=plain)

    return make


@pytest.fixture
def caller(make_caller: MakeCaller) -> Caller:
    return make_caller()


@pytest.fixture
def other_caller(make_caller: MakeCaller) -> Caller:
    return make_caller("globex")


CreateRun = Callable[..., httpx.Response]


@pytest.fixture
def create_run(client: TestClient, caller: Caller) -> CreateRun:
    """POST a run (valid by default); `who` picks the caller, keywords go into the body."""

    def post(who: Caller | None = None, input: dict[str, Any] | None = None, **body: Any) -> httpx.Response:
        payload = {"input": input if input is not None else valid_input(), **body}
        return client.post(f"/v1/models/{MODEL}/runs", json=payload, headers=(who or caller).headers)

    return post


@dataclass
class LiveServer:
    url: str
    app: FastAPI


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app under a real uvicorn on a loopback ephemeral port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
