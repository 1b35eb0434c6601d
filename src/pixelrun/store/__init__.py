"""The store, which is also the queue: SQLite or PostgreSQL through one code path."""

from pixelrun.store.database import create_engine_for, normalize_url
from pixelrun.store.deadlines import DEADLINE_EXCEEDED
from pixelrun.store.errors import (
    DeliveryInFlight,
    IdempotencyConflict,
    IllegalTransition,
    InsufficientCredit,
    InvalidCursor,
    OwnerNotFound,
    RedeliveryNotAllowed,
    RunNotFound,
    StoreError,
    is_unavailable,
)
from pixelrun.store.idempotency import Created, request_hash
from pixelrun.store.migrate import current_revision, head_revision, migrate
from pixelrun.store.notify import CHANNEL, QueueWaiter
from pixelrun.store.outbox import DEFAULT_MAX_ATTEMPTS as DEFAULT_CALLBACK_ATTEMPTS
from pixelrun.store.queue import WORKER_LOST
from pixelrun.store.records import (
    AttemptRecord,
    AuthContext,
    CallbackSecretRecord,
    DeliveryRecord,
    EventRecord,
    KeyRecord,
    LeaseState,
    LogRecord,
    Owner,
    RunRecord,
    WorkerRecord,
)
from pixelrun.store.store import Store
from pixelrun.store.tables import metadata

__all__ = [
    "CHANNEL",
    "DEADLINE_EXCEEDED",
    "DEFAULT_CALLBACK_ATTEMPTS",
    "WORKER_LOST",
    "AttemptRecord",
    "AuthContext",
    "CallbackSecretRecord",
    "Created",
    "DeliveryInFlight",
    "DeliveryRecord",
    "EventRecord",
    "IdempotencyConflict",
    "IllegalTransition",
    "InsufficientCredit",
    "InvalidCursor",
    "KeyRecord",
    "LeaseState",
    "LogRecord",
    "Owner",
    "OwnerNotFound",
    "QueueWaiter",
    "RedeliveryNotAllowed",
    "RunNotFound",
    "RunRecord",
    "Store",
    "StoreError",
    "WorkerRecord",
    "create_engine_for",
    "current_revision",
    "head_revision",
    "is_unavailable",
    "metadata",
    "migrate",
    "normalize_url",
    "request_hash",
]
