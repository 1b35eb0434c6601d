"""Suite-wide fixtures: offline settings, databases and stores on both back ends, the tiny
weights, an S3 server."""

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pixelrun.store import NewRun, Owner, RunRecord, Store
from pixelrun.store.tables import metadata

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


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
MODEL = "alibaba/qwen-image-edit-2511"
MakeRun = Callable[..., RunRecord]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pixelrun.db'}"
    return request.getfixturevalue("postgres_databases").create()


# ---- a migrated store on each back end, shared by the packages' tests ----
# PostgreSQL: one database per test session (per xdist worker), tables emptied between
# tests; SQLite: a fresh file per test.


@pytest.fixture(scope="session")
def postgres_store(postgres_databases: Any) -> Iterator[Store]:
    """One migrated database for the session; tests start from empty tables."""
    store = Store(postgres_databases.create())
    store.migrate()
    yield store
    store.close()


def _truncate(store: Store) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "postgres":
        pg: Store = request.getfixturevalue("postgres_store")
        _truncate(pg)
        yield pg
        return
    yield request.getfixturevalue("sqlite_store")


@pytest.fixture
def pg_store(postgres_store: Store) -> Store:
    """For PostgreSQL-only behaviour (LISTEN/NOTIFY): the session database, emptied."""
    _truncate(postgres_store)
    return postgres_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """For SQLite-only behaviour: a fresh migrated file."""
    store = Store(f"sqlite:///{tmp_path / 'pixelrun.db'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, unmigrated database."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_databases").create()
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def owner(store: Store) -> Owner:
    return store.owners.ensure("acme")


@pytest.fixture
def make_run(store: Store, owner: Owner) -> MakeRun:
    def make(model_id: str = MODEL, owner_id: str | None = None, **kwargs: Any) -> RunRecord:
        kwargs.setdefault("input", {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]})
        return store.runs.create(NewRun(owner_id or owner.id, model_id, **kwargs)).run

    return make


# ---- the tiny weights ----


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
