"""`Store`: the database handle. Every table is reached through a repository attribute.

    store.owners       owners and their credit            (owners.py)
    store.keys         API keys                           (keys.py)
    store.runs         create, read, list, cancel runs    (runs.py)
    store.queue        claim, lease, finish, reap; wake-ups (queue.py)
    store.history      status events, log lines, stream rows (history.py)
    store.previews     preview images of running runs     (previews.py)
    store.workers      worker rows and heartbeats         (workers.py)
    store.availability which models live workers serve    (availability.py)
    store.callbacks    secrets, deliveries, attempts      (callbacks.py)
    store.assets       uploaded assets                    (assets.py)
    store.deadlines    `Cancel-After` deadlines           (deadlines.py)
    store.unserved     queued runs of unserved models     (unserved.py)
    store.rate_limits  per-key create windows             (rate_limits.py)
    store.retention    what retention deletes             (retention.py)
    store.metrics      reads for `/metrics`               (metrics.py)
    store.shared_settings  settings every process must agree on (shared_settings.py)
    store.storage_identities  which file storage each process uses (storage_identities.py)

Database plumbing (engines, transactions, notifications, migrations) is `store.db`;
docs/architecture.md draws the whole package.
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from pixelrun.store.assets import AssetsRepo
from pixelrun.store.availability import AvailabilityRepo
from pixelrun.store.callbacks import CallbacksRepo
from pixelrun.store.db.database import create_engine_for, is_postgres, listen_url_for
from pixelrun.store.db.migrate import migrate
from pixelrun.store.deadlines import Deadlines
from pixelrun.store.history import HistoryRepo
from pixelrun.store.keys import KeysRepo
from pixelrun.store.metrics import MetricsRepo
from pixelrun.store.owners import OwnersRepo
from pixelrun.store.previews import PreviewsRepo
from pixelrun.store.queue import QueueRepo
from pixelrun.store.rate_limits import RateLimits
from pixelrun.store.retention import RetentionRepo
from pixelrun.store.runs import RunsRepo
from pixelrun.store.shared_settings import SharedSettingsRepo
from pixelrun.store.storage_identities import StorageIdentitiesRepo
from pixelrun.store.unserved import UnservedRuns
from pixelrun.store.workers import WorkersRepo


class Store:
    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: Engine | None = None,
        listen_url: str | URL | None = None,
    ) -> None:
        """`listen_url`: where LISTEN connects on PostgreSQL (default: the same database); a
        direct or session-pooled address when `url` goes through a transaction-mode pooler
        (docs/deployment.md#database-connections)."""
        if engine is None:
            if url is None:
                raise ValueError("Store needs a database URL or an engine")
            engine = create_engine_for(url)
        self.engine = engine
        listen = listen_url_for(engine, listen_url)
        self.owners = OwnersRepo(engine)
        self.keys = KeysRepo(engine)
        self.runs = RunsRepo(engine)
        self.queue = QueueRepo(engine, listen)
        self.history = HistoryRepo(engine, listen)
        self.previews = PreviewsRepo(engine)
        self.workers = WorkersRepo(engine)
        self.availability = AvailabilityRepo(engine)
        self.callbacks = CallbacksRepo(engine)
        self.assets = AssetsRepo(engine)
        self.deadlines = Deadlines(engine)
        self.unserved = UnservedRuns(engine)
        self.rate_limits = RateLimits(engine)
        self.retention = RetentionRepo(engine)
        self.metrics = MetricsRepo(engine)
        self.shared_settings = SharedSettingsRepo(engine)
        self.storage_identities = StorageIdentitiesRepo(engine)

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.engine)

    def migrate(self) -> None:
        migrate(self.engine)

    def ping(self) -> None:
        """Raises when the database cannot be reached (readiness check)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.runs.close()
        self.engine.dispose()
