from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .server import Server, StaticFiles


@pytest.fixture(scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'pixelrun.db'}"
    return request.getfixturevalue("postgres_databases").create()


@pytest.fixture(scope="package")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`pixelrun serve` with one worker on the tiny weights, shared by the end-to-end tests."""
    server = Server(tmp_path_factory.mktemp("data"), module_database_url).start()
    try:
        server.wait_key()
        server.wait_ready()
        yield server
    finally:
        server.stop()


def png_bytes(width: int = 120, height: int = 90, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="package")
def images() -> Iterator[StaticFiles]:
    files = StaticFiles({"/images/models/_shared/base-engineer.png": png_bytes()})
    yield files
    files.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
