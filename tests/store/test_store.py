from __future__ import annotations

import pytest

from pixelrun.store import Store


def test_ping_and_backend(store: Store, backend: str) -> None:
    store.ping()
    assert store.backend == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    assert store.is_postgres == (backend == "postgres")


def test_ping_fails_when_the_database_is_unreachable() -> None:
    store = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused"):
            store.ping()
    finally:
        store.close()


def test_store_needs_a_url_or_engine() -> None:
    with pytest.raises(ValueError):
        Store()
