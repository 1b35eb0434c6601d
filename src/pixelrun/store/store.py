"""`Store`: one object that owns the engine and exposes every store operation.

The operations live in small modules (keys, runs_repo, queue, workers, logs, events,
notify, callbacks_repo); this facade binds them to one engine so callers hold a single handle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from pixelrun.runs import FailureStage, RunStatus
from pixelrun.store import callbacks_repo, events, keys, logs, notify, queue, runs_repo, workers
from pixelrun.store.assets_repo import AssetsRepo
from pixelrun.store.availability import AvailabilityRepo
from pixelrun.store.database import create_engine_for, is_postgres
from pixelrun.store.deadlines import Deadlines
from pixelrun.store.idempotency import IdempotentCreates
from pixelrun.store.metrics_repo import MetricsRepo
from pixelrun.store.migrate import migrate
from pixelrun.store.notify import DEFAULT_POLL_INTERVAL_SECONDS, QueueWaiter
from pixelrun.store.rate_limits import RateLimits
from pixelrun.store.records import (
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
from pixelrun.store.retention_repo import RetentionRepo
from pixelrun.store.run_reads import RunReads
from pixelrun.store.shared_settings import SharedSettingsRepo
from pixelrun.store.storage_identities import StorageIdentitiesRepo
from pixelrun.store.stream import StreamRepo


class Store:
    def __init__(self, url: str | URL | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ValueError("Store needs a database URL or an engine")
            engine = create_engine_for(url)
        self.engine = engine
        self.stream = StreamRepo(engine)
        self.assets = AssetsRepo(engine)
        self.shared_settings = SharedSettingsRepo(engine)
        self.retention = RetentionRepo(engine)
        self.idempotent = IdempotentCreates(engine)
        self.rate_limits = RateLimits(engine)
        self.deadlines = Deadlines(engine)
        self.run_reads = RunReads(engine)
        self.availability = AvailabilityRepo(engine)
        self.metrics = MetricsRepo(engine)
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
        self.idempotent.close()
        self.engine.dispose()

    # Owners and keys.
    def ensure_owner(self, name: str, budget_cents: int | None = None) -> Owner:
        return keys.ensure_owner(self.engine, name, budget_cents)

    def get_owner(self, owner_id: str) -> Owner | None:
        return keys.get_owner(self.engine, owner_id)

    def set_budget(self, owner_id: str, budget_cents: int | None) -> None:
        keys.set_budget(self.engine, owner_id, budget_cents)

    def balance(self, owner_id: str) -> tuple[int | None, int]:
        return keys.balance(self.engine, owner_id)

    def create_api_key(self, owner_id: str, label: str) -> tuple[KeyRecord, str]:
        return keys.create_api_key(self.engine, owner_id, label)

    def revoke_api_key(self, key_id: str) -> bool:
        return keys.revoke_api_key(self.engine, key_id)

    def list_api_keys(self, owner_id: str) -> list[KeyRecord]:
        return keys.list_api_keys(self.engine, owner_id)

    def count_api_keys(self, include_revoked: bool = False) -> int:
        return keys.count_api_keys(self.engine, include_revoked)

    def authenticate(self, plain_key: str) -> AuthContext | None:
        return keys.authenticate(self.engine, plain_key)

    # Runs.
    def create_run(
        self,
        owner_id: str,
        model_id: str,
        input: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        client_ref: str | None = None,
        max_attempts: int = 3,
        estimated_cents: int = 0,
        deadline_at: datetime | None = None,
        callback_format: str | None = None,
    ) -> RunRecord:
        return runs_repo.create_run(
            self.engine,
            owner_id,
            model_id,
            input,
            metadata,
            callback_url,
            client_ref,
            max_attempts,
            estimated_cents,
            deadline_at,
            callback_format,
        )

    def get_run(self, run_id: str, owner_id: str | None = None) -> RunRecord | None:
        return runs_repo.get_run(self.engine, run_id, owner_id)

    def list_runs(
        self,
        owner_id: str,
        limit: int = 50,
        cursor: str | None = None,
        status: RunStatus | str | None = None,
        model_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> tuple[list[RunRecord], str | None]:
        return runs_repo.list_runs(
            self.engine, owner_id, limit, cursor, status, model_id, created_after, created_before
        )

    def queue_position(self, run: RunRecord) -> int | None:
        return runs_repo.queue_position(self.engine, run)

    def cancel_run(self, run_id: str, owner_id: str) -> tuple[RunRecord, bool]:
        return runs_repo.cancel_run(self.engine, run_id, owner_id)

    # Queue.
    def claim_next(self, worker_id: str, model_ids: list[str], lease_seconds: float) -> RunRecord | None:
        return queue.claim_next(self.engine, worker_id, model_ids, lease_seconds)

    def mark_running(self, run_id: str, attempt: int, worker_id: str) -> bool:
        return queue.mark_running(self.engine, run_id, attempt, worker_id)

    def heartbeat_run(
        self,
        run_id: str,
        attempt: int,
        worker_id: str,
        lease_seconds: float,
        step: int | None = None,
        steps: int | None = None,
    ) -> LeaseState:
        return queue.heartbeat_run(self.engine, run_id, attempt, worker_id, lease_seconds, step, steps)

    def finish_run(
        self,
        run_id: str,
        attempt: int,
        worker_id: str,
        status: RunStatus | str,
        output: dict[str, Any] | None = None,
        cost: str | None = None,
        cost_breakdown: list[dict[str, Any]] | None = None,
        cost_cents: int = 0,
        failure_code: str | None = None,
        failure_message: str | None = None,
        failure_stage: FailureStage | str | None = None,
    ) -> bool:
        return queue.finish_run(
            self.engine,
            run_id,
            attempt,
            worker_id,
            status,
            output=output,
            cost=cost,
            cost_breakdown=cost_breakdown,
            cost_cents=cost_cents,
            failure_code=failure_code,
            failure_message=failure_message,
            failure_stage=failure_stage,
        )

    def requeue_run(self, run_id: str, attempt: int, worker_id: str, reason: str) -> bool:
        return queue.requeue_run(self.engine, run_id, attempt, worker_id, reason)

    def reap_expired(self, now: datetime | None = None) -> list[str]:
        return queue.reap_expired(self.engine, now)

    # Logs and events.
    def add_log(
        self, run_id: str, level: logs.LogLevel, message: str, meta: dict[str, Any] | None = None
    ) -> None:
        logs.add_log(self.engine, run_id, level, message, meta)

    def list_logs(self, run_id: str) -> list[LogRecord]:
        return logs.list_logs(self.engine, run_id)

    def list_events(self, run_id: str) -> list[EventRecord]:
        return events.list_events(self.engine, run_id)

    # Workers.
    def register_worker(
        self,
        worker_id: str,
        name: str,
        model_ids: list[str],
        device: str,
        info: dict[str, Any] | None = None,
        status: workers.WorkerStatus = "starting",
    ) -> WorkerRecord:
        return workers.register_worker(self.engine, worker_id, name, model_ids, device, info, status)

    def worker_heartbeat(
        self, worker_id: str, status: workers.WorkerStatus, info: dict[str, Any] | None = None
    ) -> bool:
        return workers.worker_heartbeat(self.engine, worker_id, status, info)

    def get_worker(self, worker_id: str) -> WorkerRecord | None:
        return workers.get_worker(self.engine, worker_id)

    def ready_workers(
        self, model_id: str | None = None, fresh_within_seconds: float = workers.DEFAULT_FRESH_WITHIN_SECONDS
    ) -> list[WorkerRecord]:
        return workers.ready_workers(self.engine, model_id, fresh_within_seconds)

    def mark_worker_stopped(self, worker_id: str) -> bool:
        return workers.mark_worker_stopped(self.engine, worker_id)

    # Wake-ups.
    def notify_queued(self, model_id: str) -> None:
        notify.notify_queued(self.engine, model_id)

    def queue_waiter(
        self, model_ids: list[str] | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS
    ) -> QueueWaiter:
        return QueueWaiter(self.engine, model_ids, poll_interval)

    # Callbacks: secrets, delivery history, redelivery, and the dispatcher's steps.
    def create_callback_secret(self, owner_id: str, label: str) -> tuple[CallbackSecretRecord, str]:
        return callbacks_repo.create_callback_secret(self.engine, owner_id, label)

    def list_callback_secrets(
        self, owner_id: str, include_revoked: bool = False
    ) -> list[CallbackSecretRecord]:
        return callbacks_repo.list_callback_secrets(self.engine, owner_id, include_revoked)

    def revoke_callback_secret(self, owner_id: str, secret_id: str) -> bool:
        return callbacks_repo.revoke_callback_secret(self.engine, owner_id, secret_id)

    def active_secrets(self, owner_id: str) -> list[str]:
        return callbacks_repo.active_secrets(self.engine, owner_id)

    def list_deliveries(self, run_id: str) -> list[DeliveryRecord]:
        return callbacks_repo.list_deliveries(self.engine, run_id)

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        return callbacks_repo.get_delivery(self.engine, delivery_id)

    def create_redelivery(self, run_id: str, owner_id: str) -> DeliveryRecord:
        return callbacks_repo.create_redelivery(self.engine, run_id, owner_id)

    def next_delivery_due_at(self, now: datetime | None = None) -> datetime | None:
        return callbacks_repo.next_due_at(self.engine, now)

    def claim_due_deliveries(
        self, worker_id: str, claim_seconds: float, limit: int = 10, now: datetime | None = None
    ) -> list[DeliveryRecord]:
        return callbacks_repo.claim_due_deliveries(self.engine, worker_id, claim_seconds, limit, now)

    def freeze_delivery_body(
        self, delivery_id: str, worker_id: str, payload: dict[str, Any], body: str
    ) -> str | None:
        return callbacks_repo.freeze_delivery_body(self.engine, delivery_id, worker_id, payload, body)

    def record_delivery_attempt(
        self,
        delivery_id: str,
        worker_id: str,
        attempt_number: int,
        *,
        status_code: int | None,
        response_time_ms: int,
        error_message: str | None,
        webhook_timestamp: int | None,
        outcome: str,
        retry_at: datetime | None = None,
        now: datetime | None = None,
    ) -> bool:
        return callbacks_repo.record_attempt(
            self.engine,
            delivery_id,
            worker_id,
            attempt_number,
            status_code=status_code,
            response_time_ms=response_time_ms,
            error_message=error_message,
            webhook_timestamp=webhook_timestamp,
            outcome=outcome,
            retry_at=retry_at,
            now=now,
        )
