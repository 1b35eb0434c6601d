"""The store, which is also the queue: SQLite or PostgreSQL through one code path.

One import surface: `Store` (its repositories are attributes, see store.py), every
record type, the store's errors and the constants callers compare with.
"""

from pixelrun.store.db.cursor import CURSOR_PATTERN
from pixelrun.store.db.database import create_engine_for, normalize_url
from pixelrun.store.db.loop_reads import LoopReads
from pixelrun.store.db.migrate import current_revision, head_revision, migrate
from pixelrun.store.db.notify import CHANNEL, QueueWaiter
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
from pixelrun.store.idempotency import MAX_KEY_LENGTH as MAX_IDEMPOTENCY_KEY_LENGTH
from pixelrun.store.idempotency import request_hash
from pixelrun.store.outbox import DEFAULT_MAX_ATTEMPTS as DEFAULT_CALLBACK_ATTEMPTS
from pixelrun.store.previews import MAX_BYTES as MAX_PREVIEW_BYTES
from pixelrun.store.previews import PreviewTooLarge
from pixelrun.store.queue import WORKER_LOST
from pixelrun.store.records import (
    ActiveRuns,
    AssetRecord,
    AttemptRecord,
    AuthContext,
    CallbackSecretRecord,
    Created,
    DeliveryRecord,
    EventRecord,
    KeyRecord,
    LeaseState,
    LogLevel,
    LogRecord,
    ModelAvailability,
    ModelFailure,
    NewRun,
    Owner,
    PreviewImage,
    RateDecision,
    ReportedStorage,
    RunFiles,
    RunRecord,
    StreamKind,
    StreamRow,
    WorkerRecord,
    WorkerStatus,
)
from pixelrun.store.store import Store
from pixelrun.store.stream import CHANNEL as STREAM_CHANNEL
from pixelrun.store.tables import metadata
from pixelrun.store.unserved import MODEL_UNAVAILABLE
from pixelrun.store.workers import DEFAULT_FRESH_WITHIN_SECONDS, WORKER_STATUSES

__all__ = [
    "CHANNEL",
    "CURSOR_PATTERN",
    "DEADLINE_EXCEEDED",
    "DEFAULT_CALLBACK_ATTEMPTS",
    "DEFAULT_FRESH_WITHIN_SECONDS",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_PREVIEW_BYTES",
    "MODEL_UNAVAILABLE",
    "STREAM_CHANNEL",
    "WORKER_LOST",
    "WORKER_STATUSES",
    "ActiveRuns",
    "AssetRecord",
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
    "LogLevel",
    "LogRecord",
    "LoopReads",
    "ModelAvailability",
    "ModelFailure",
    "NewRun",
    "Owner",
    "OwnerNotFound",
    "PreviewImage",
    "PreviewTooLarge",
    "QueueWaiter",
    "RateDecision",
    "RedeliveryNotAllowed",
    "ReportedStorage",
    "RunFiles",
    "RunNotFound",
    "RunRecord",
    "Store",
    "StoreError",
    "StreamKind",
    "StreamRow",
    "WorkerRecord",
    "WorkerStatus",
    "create_engine_for",
    "current_revision",
    "head_revision",
    "is_unavailable",
    "metadata",
    "migrate",
    "normalize_url",
    "request_hash",
]
