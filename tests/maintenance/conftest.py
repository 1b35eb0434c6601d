"""The maintenance tests use the suite-wide `store` and `owner` fixtures (tests/conftest.py),
on SQLite and on PostgreSQL; here: settings of a process on that store, and an API caller."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pixelrun.config import Settings
from pixelrun.store import Owner, Store

MODEL = "alibaba/qwen-image-edit-2511"
BASE_URL = "http://pixelrun.test"


def valid_input(**overrides: Any) -> dict[str, Any]:
    return {"prompt": "make the sky orange", "image_urls": ["https://example.com/a.png"], **overrides}


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
def caller(store: Store, owner: Owner) -> Caller:
    _, plain = store.keys.create(owner.id, "test key")
    return Caller(owner_id=owner.id, key=plain)
