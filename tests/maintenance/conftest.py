"""Fixtures for the maintenance tests: a store on SQLite (a temp file) and on PostgreSQL
(one database per session, emptied between tests), settings that point at it, and a caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from pixelrun.config import Settings
from pixelrun.store import Store
from pixelrun.store.tables import metadata

MODEL = "alibaba/qwen-image-edit-2511"
BASE_URL = "http://pixelrun.test"


def valid_input(**overrides: Any) -> dict[str, Any]:
    return {"prompt": "make the sky orange", "image_urls": ["https://example.com/a.png"], **overrides}


@pytest.fixture(scope="session")
def postgres_store(postgres_databases: Any) -> Iterator[Store]:
    store = Store(postgres_databases.create())
    store.migrate()
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        shared: Store = request.getfixturevalue("postgres_store")
        names = ", ".join(table.name for table in metadata.sorted_tables)
        with shared.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        yield shared
        return
    fresh = Store(f"sqlite:///{tmp_path / 'pixelrun.db'}")
    fresh.migrate()
    yield fresh
    fresh.close()


@pytest.fixture
def settings(store: Store, tmp_path: Path) -> Settings:
    """Settings of a process on `store` (an API process or a worker)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=store.engine.url.render_as_string(hide_password=False),
        public_base_url=BASE_URL,
        signing_secret="s" * 32,
        # Creates are accepted without a live worker.
        model_grace_seconds=-1,
    )


@dataclass(frozen=True)
class Caller:
    owner_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def caller(store: Store) -> Caller:
    owner = store.owners.ensure("acme", None)
    _, plain = store.keys.create(owner.id, "test key")
    return Caller(owner_id=owner.id, key=plain)
