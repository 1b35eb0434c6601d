"""A real `pixelrun serve --weights tiny` per test module, for the compatibility clients."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from e2e.server import Server


def start_server(
    data_dir: Path, database_url: str, *, workers: int = 1, key: str | None = None, **env: str
) -> Server:
    """Started and ready; `key`: the store already has that key (only a fresh store prints one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir, database_url, workers=workers, **env).start()
    server.key = key
    try:
        server.wait_key()
        server.wait_ready(need_worker=workers > 0)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def module_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compat")


@pytest.fixture(scope="module")
def server(module_data: Path) -> Iterator[Server]:
    """`pixelrun serve` with one worker on the tiny weights and SQLite."""
    server = start_server(module_data / "data", f"sqlite:///{module_data / 'pixelrun.db'}")
    try:
        yield server
    finally:
        server.stop()


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
