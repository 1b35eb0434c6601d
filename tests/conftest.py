"""Suite-wide fixtures: offline settings, the tiny weights, and databases on both back ends."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs in parallel processes (and starts servers and workers) on 2 cores: one
# intra-op thread per process avoids oversubscription, which slows small CPU models ~10×.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine

PG_ADMIN_URL = os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SKIP_POSTGRES = os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1"


class PostgresDatabases:
    """Creates uniquely named databases on the test server; drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql")
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url.render_as_string(hide_password=False), autocommit=True)

    def check(self) -> None:
        try:
            with self._admin() as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {self.admin_url!r}: {exc}\n"
                "Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start), point "
                "PIXELRUN_TEST_POSTGRES_URL at a server, or set PIXELRUN_TEST_SKIP_POSTGRES=1.",
                pytrace=False,
            )

    def create(self) -> str:
        name = f"pixelrun_test_{uuid.uuid4().hex[:16]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    if SKIP_POSTGRES:
        pytest.skip("PIXELRUN_TEST_SKIP_POSTGRES=1")
    databases = PostgresDatabases(PG_ADMIN_URL)
    databases.check()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pixelrun.db'}"
    return request.getfixturevalue("postgres_databases").create()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pixelrun.engines.qwen_image_edit.tiny_weights import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny")


@pytest.fixture(scope="session")
def engine(tiny_dir: Path) -> QwenImageEditEngine:
    """The tiny engine, loaded once per test process (xdist worker)."""
    from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine

    return QwenImageEditEngine.load(tiny_dir, device="cpu")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's S3 server in its own process; the AWS variables point every boto3 client at it."""
    from s3server import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env().items():
                patch.setenv(name, value)
            yield server
    finally:
        server.stop()
