"""`listen_url`: LISTEN (queue and stream wake-ups) may use another address than the
statements, for a transaction-mode pooler in front of PostgreSQL (docs/deployment.md)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from pixelrun.config import Settings
from pixelrun.store import Store

from .conftest import MODEL

pytestmark = pytest.mark.postgres


def test_waiter_listens_on_the_listen_url_and_wakes_on_a_notify(postgres_databases: Any) -> None:
    url = postgres_databases.create()
    listen = f"{url}?application_name=pixelrun-listen-test"
    store = Store(url, listen_url=listen)
    try:
        assert store.history.stream_listen_url() is not None
        assert "application_name=pixelrun-listen-test" in store.history.stream_listen_url()
        with store.queue.waiter([MODEL], poll_interval=30) as waiter:
            with store.engine.connect() as conn:
                listening = (
                    conn.execute(
                        text(
                            "SELECT query FROM pg_stat_activity "
                            "WHERE application_name = 'pixelrun-listen-test' AND datname = current_database()"
                        )
                    )
                    .scalars()
                    .all()
                )
            assert listening == ["LISTEN pixelrun_runs"]
            # A NOTIFY sent through the statement connection reaches the listening one.
            woke = threading.Event()

            def wait() -> None:
                waiter.wait(20)
                woke.set()

            thread = threading.Thread(target=wait)
            thread.start()
            time.sleep(0.2)
            store.queue.notify(MODEL)
            thread.join(25)
            assert woke.is_set()
    finally:
        store.close()


def test_without_listen_url_it_listens_on_the_database_url(postgres_databases: Any) -> None:
    url = postgres_databases.create()
    store = Store(url)
    try:
        listen = store.history.stream_listen_url()
        assert listen is not None and listen.startswith("postgresql://") and url.rsplit("/", 1)[1] in listen
    finally:
        store.close()


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELRUN_LISTEN_DATABASE_URL", "postgresql://direct.internal/pixelrun")
    assert Settings().listen_database_url == "postgresql://direct.internal/pixelrun"
    monkeypatch.delenv("PIXELRUN_LISTEN_DATABASE_URL")
    assert Settings().listen_database_url is None
