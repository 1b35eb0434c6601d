"""The schema, as SQLAlchemy Core tables. Migrations (migrations/versions) must match it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)

from pixelrun.store.db.types import UTCDateTime, json_type

#: 64-bit ids (docs/operations.md#64-bit-ids): BIGINT on PostgreSQL; INTEGER on SQLite, whose
#: INTEGER PRIMARY KEY is the 64-bit rowid already (a BIGINT PRIMARY KEY would not be a rowid
#: alias there, and would not auto-increment).
Id64 = BigInteger().with_variant(Integer(), "sqlite")

# Constraint names are fixed so that migrations can refer to them on every back end.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Money in micro-dollars: 64-bit. SQLite's INTEGER is already 64-bit, so it keeps that
# name there (migration 0014 renames the columns in place).
MICROS = BigInteger().with_variant(Integer(), "sqlite")

owners = Table(
    "owners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # Micro-dollars, the wire cost's precision, so the debit is exactly the run's cost
    # (docs/api.md#billing). NULL budget: unlimited credit.
    Column("budget_micros", MICROS, nullable=True),
    Column("spent_micros", MICROS, nullable=False, server_default="0", default=0),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("key_prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("input", json_type(), nullable=False),
    Column("output", json_type(), nullable=True),
    Column("metadata", json_type(), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("client_ref", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("dispatched_at", UTCDateTime(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    # The wire cost (decimal string, USD) and its lines; the same cost in micro-dollars is
    # debited from the owner.
    Column("cost", String(32), nullable=True),
    Column("cost_breakdown", json_type(), nullable=True),
    Column("cost_micros", MICROS, nullable=False, server_default="0", default=0),
    Column("failure_code", String(100), nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("failure_stage", String(20), nullable=True),
    Column("progress_step", Integer, nullable=True),
    Column("progress_steps", Integer, nullable=True),
    # Incremented on every claim; with worker_id it fences every later write by a worker.
    Column("attempt", Integer, nullable=False, server_default="0", default=0),
    Column("max_attempts", Integer, nullable=False),
    # Claims given back by a graceful shutdown; they do not count against max_attempts.
    Column("graceful_requeues", Integer, nullable=False, server_default="0", default=0),
    Column("worker_id", String(64), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=false(), default=False),
    # Set by the retention janitor when the run's files were deleted (the record stays).
    Column("files_expired_at", UTCDateTime(), nullable=True),
    # Set by the retention janitor when the run's stream rows were deleted, an hour after
    # it ended (docs/operations.md#retention).
    Column("stream_pruned_at", UTCDateTime(), nullable=True),
    # `Cancel-After`: not terminal by then means canceled with failure_code deadline_exceeded.
    Column("deadline_at", UTCDateTime(), nullable=True),
    # The body the callback_url receives: NULL for the run callback (docs/callbacks.md),
    # "prediction" for a Replicate-compatible webhook (docs/compatibility.md#replicate-predictions).
    Column("callback_format", String(16), nullable=True),
    # The webhook events the callback_url receives, comma-separated (start, output, logs,
    # completed); NULL: the terminal one only (docs/compatibility.md#replicate-predictions).
    Column("callback_events", String(64), nullable=True),
    # The run's place in its owner's queue of its model: 1, 2, 3... per (model, owner), given
    # at create (docs/queue.md#queue-position). NULL for runs created before fair queues.
    Column("queue_ticket", BigInteger, nullable=True),
    Index("ix_runs_status_model_created", "status", "model_id", "created_at"),
    # Owner first: with the model first, SQLite took it for every `model_id IN (...)` query
    # of the claim (the deadline sweep scanned the whole queue).
    Index("ix_runs_owner_model_status_ticket", "owner_id", "model_id", "status", "queue_ticket"),
    # Retention's work: only the runs whose files or stream rows are still there (partial,
    # so that the planner reads them in order instead of scanning runs; migration 0021).
    Index(
        "ix_runs_files_to_expire",
        "completed_at",
        sqlite_where=text("files_expired_at IS NULL"),
        postgresql_where=text("files_expired_at IS NULL"),
    ),
    Index(
        "ix_runs_streams_to_prune",
        "completed_at",
        sqlite_where=text("stream_pruned_at IS NULL"),
        postgresql_where=text("stream_pruned_at IS NULL"),
    ),
    Index("ix_runs_deadline_at", "deadline_at"),
    # The keyset order of an owner's list (store/runs.py page_query), id included so that
    # a page deep in a long list starts in the index, not after a walk from the top.
    Index("ix_runs_owner_created_id", "owner_id", "created_at", "id"),
)

# One row per (model, owner) that ever queued a run of the model: the fair queue's turns
# (docs/queue.md). Claims take the owner whose turn is first, then its oldest run.
owner_queues = Table(
    "owner_queues",
    metadata,
    Column("model_id", String(200), primary_key=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), primary_key=True),
    # Runs of this owner and model now queued.
    Column("queued_count", Integer, nullable=False),
    # The round in which this owner's oldest queued run is claimed; +1 at each claim.
    Column("next_round", BigInteger, nullable=False),
    # Order among owners within a round; given when the owner (re)joins the queue.
    Column("turn", BigInteger, nullable=False),
    # The last `runs.queue_ticket` given to this owner's runs of this model.
    Column("last_ticket", BigInteger, nullable=False),
    Index("ix_owner_queues_model_round", "model_id", "next_round"),
    # The owners with queued runs, in claim order: a claim and a position read skip the
    # owners with nothing queued, however many there are.
    Index(
        "ix_owner_queues_waiting",
        "model_id",
        "next_round",
        "turn",
        sqlite_where=text("queued_count > 0"),
        postgresql_where=text("queued_count > 0"),
    ),
)

run_events = Table(
    "run_events",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False, index=True),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("detail", json_type(), nullable=True),
)

run_logs = Table(
    "run_logs",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False, index=True),
    Column("level", String(10), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("meta", json_type(), nullable=True),
)

# What a run's event stream (GET /v1/runs/{id}/stream) replays: one row per status change
# (plus a `done` row when it becomes terminal), per denoising step and per log line,
# written in the transaction that makes the change. The id orders the stream.
run_stream_events = Table(
    "run_stream_events",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    # status | progress | log | preview | done
    Column("kind", String(16), nullable=False),
    Column("status", String(20), nullable=True),
    Column("step", Integer, nullable=True),
    Column("steps", Integer, nullable=True),
    Column("log_id", Id64, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_run_stream_events_run_id_id", "run_id", "id"),
)

# The image of each `preview` row of `run_stream_events` (same id), while its run needs it:
# housekeeping deletes a run's previews shortly after the run ends (docs/api.md#previews).
run_previews = Table(
    "run_previews",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=False),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("model_ids", json_type(), nullable=False),
    Column("device", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("info", json_type(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    # Indexed: retention deletes rows by it and `/metrics` reads the workers heard from lately.
    Column("heartbeat_at", UTCDateTime(), nullable=False, index=True),
    # Set with status "failed": why the model could not be loaded (a `Reason` of
    # pixelrun.weights.unavailable) and the one line shown to people.
    Column("failure_reason", String(40), nullable=True),
    Column("failure_message", Text, nullable=True),
)

# Callback signing secrets. Unlike API keys they are stored in plain text (`whsec_...`):
# the sender needs the secret itself to compute HMAC signatures, a hash would not do.
callback_secrets = Table(
    "callback_secrets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# The callback outbox: one row per delivery (a terminal run with a callback_url, or a
# redelivery). Inserted in the transaction that makes the run terminal, so a delivery
# cannot be lost between the status change and the send.
callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False, index=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), nullable=False),
    Column("callback_url", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default="0", default=0),
    Column("max_attempts", Integer, nullable=False),
    # NULL once the delivery is over (succeeded or failed).
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    # Both NULL until the first attempt freezes them; every retry sends `body` unchanged.
    Column("payload", json_type(), nullable=True),
    Column("body", Text, nullable=True),
    Column("request_id", String(64), nullable=False),
    Column("webhook_id", String(64), nullable=False),
    # The `webhook-timestamp` of the latest attempt (each attempt signs its own send time).
    Column("webhook_timestamp", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime(), nullable=True),
    # A dispatcher's claim; an expired claim (crashed process) is taken over by another.
    Column("claimed_by", String(64), nullable=True),
    Column("claim_expires_at", UTCDateTime(), nullable=True),
    # The webhook event it carries (start, output, logs); NULL: the terminal callback.
    Column("event", String(16), nullable=True),
    Index("ix_callback_deliveries_status_next", "status", "next_attempt_at"),
)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", Id64, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), ForeignKey("callback_deliveries.id"), nullable=False, index=True),
    Column("attempt_number", Integer, nullable=False),
    # NULL when no HTTP answer came back (timeout, network error, refused URL).
    Column("status_code", Integer, nullable=True),
    Column("response_time_ms", Integer, nullable=False),
    Column("error_message", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

# Uploaded files (docs/uploads.md): `pending` from creation until the confirmation has read the
# bytes back and checked them, then `ready`. The bytes live in file storage at `storage_key`.
assets = Table(
    "assets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(64), ForeignKey("owners.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("mime_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("storage_key", String(512), nullable=False),
    Column("status", String(20), nullable=False),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("upload_expires_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    Index("ix_assets_owner_created", "owner_id", "created_at"),
    Index("ix_assets_created", "created_at"),
    # Uploads never confirmed, for retention (partial: a few rows, whatever the assets; 0021).
    Index(
        "ix_assets_pending_expires",
        "upload_expires_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# Values every process of a deployment must agree on (the file URL signing secret),
# written once by the first process that needs them and read by all others.
shared_settings = Table(
    "shared_settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Named, expiring leases so that periodic jobs (the retention janitor) run in one API
# replica at a time.
maintenance_leases = Table(
    "maintenance_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# `Idempotency-Key` of a create: one row per (owner, key), kept 24 h. The primary key is
# what makes concurrent creates with one key produce one run: the create inserts this row
# first (insert-or-fetch) in the transaction that inserts the run. No foreign key to runs:
# the row is written before the run of the same transaction.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner_id", String(64), ForeignKey("owners.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    # SHA-256 of the normalised request: a replay must carry the same body.
    Column("request_hash", String(64), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
)

# Per-key create counters for PIXELRUN_RATE_LIMIT_PER_MINUTE: one row per key and fixed
# one-minute window, bumped by an atomic upsert, so every API replica counts together.
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("key_id", String(64), primary_key=True),
    # Unix time of the window's start, in whole minutes.
    Column("window_start", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
    Index("ix_rate_limit_windows_window_start", "window_start"),
)

# Which file storage each process sharing this store uses (store/storage_identities.py).
storage_identities = Table(
    "storage_identities",
    metadata,
    Column("identity", String(300), primary_key=True),
    Column("description", String(600), nullable=False),
    Column("host", String(255), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)

# The counters and histograms of `/metrics` (store/metric_totals.py): one row per metric,
# label set, histogram bucket and shard, added to in the transaction that makes a run
# terminal or records a callback attempt. Unused labels are "".
metric_totals = Table(
    "metric_totals",
    metadata,
    Column("metric", String(16), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("status", String(20), primary_key=True),
    # failure_code, stage or attempt number, by metric.
    Column("label", String(100), primary_key=True),
    Column("bucket", SmallInteger, primary_key=True, autoincrement=False),
    Column("shard", SmallInteger, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)
