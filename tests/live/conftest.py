"""One real `pixelrun serve` (API + one worker, tiny weights) per back end, shared by the
stream, `Prefer: wait`, SDK and CLI tests of this package. Keep-alives come every 0.5 s
so that the keep-alive test is fast."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from PIL import Image

from e2e.server import Server
from pixelrun.store import Store

MODEL = "alibaba/qwen-image-edit-2511"
RUNS_PATH = f"/v1/models/{MODEL}/runs"
KEEPALIVE_SECONDS = 0.5


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE_DATA_URI = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()


@dataclass
class Live:
    server: Server
    key: str
    other_key: str  # a key of another owner
    database_url: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture(scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'pixelrun.db'}"
    else:
        database_url = request.getfixturevalue("postgres_databases").create()
    server = Server(
        tmp_path_factory.mktemp("data"),
        database_url,
        PIXELRUN_STREAM_KEEPALIVE_SECONDS=str(KEEPALIVE_SECONDS),
    ).start()
    try:
        key = server.wait_key()
        server.wait_ready()
        store = Store(database_url)
        try:
            other = store.owners.ensure("someone-else")
            _, other_key = store.keys.create(other.id, "other")
        finally:
            store.close()
        yield Live(server, key, other_key, database_url)
    finally:
        server.stop()
