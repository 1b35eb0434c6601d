"""Carry one claimed run from `dispatching` to a terminal status.

claim (done by the loop) → validate → fetch inputs → `running` → engine (progress,
cancellation, lease) → safety (inside the engine) → store outputs → price → finish.
Every write is fenced by (run, attempt, worker) in the store, so a worker that lost
its lease cannot overwrite anything.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pixelrun.engines.engine import Engine, RunInput, RunResult
from pixelrun.engines.errors import AdapterError, Canceled, UnsupportedInput
from pixelrun.engines.registry import get_model
from pixelrun.net import OutboundClient
from pixelrun.runs import FailureStage, RunStatus, WebhookEvent, price_outputs, utc_now, wants_webhook_event
from pixelrun.storage import FileStorage, StorageError
from pixelrun.store import DEADLINE_EXCEEDED, RunRecord, Store
from pixelrun.worker.assets import StoredAssets
from pixelrun.worker.delivery import OutputDelivery
from pixelrun.worker.inputs import InputImageError, InputLimits, load_input_images
from pixelrun.worker.lease import LeaseKeeper
from pixelrun.worker.lora_files import LoraFetchError, LoraFiles
from pixelrun.worker.outputs import save_outputs
from pixelrun.worker.previews import PreviewRecorder, preview_every
from pixelrun.worker.progress import ProgressRecorder

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """The worker is shutting down: the run goes back to the queue."""


class _TimedOut(Exception):
    pass


class _DeadlineExceeded(Exception):
    """The run's `Cancel-After` deadline passed: canceled, not failed, and not billed."""


@dataclass(frozen=True)
class _Computed:
    """A run whose images are computed and checked, waiting to be encoded and stored."""

    request: RunInput
    result: RunResult
    fetch_ms: float


@dataclass(frozen=True)
class ExecutorConfig:
    worker_id: str
    lease_seconds: float
    heartbeat_seconds: float
    run_timeout_seconds: float
    limits: InputLimits
    #: Previews every this many steps for runs that do not say (`PIXELRUN_PREVIEW_EVERY`; 0: none).
    preview_every: int = 0


#: LoRA size cap when the executor makes its own LoRA cache (tests, one-off use).
DEFAULT_MAX_LORA_BYTES = 1024**3


class RunFailed(Exception):
    def __init__(self, stage: FailureStage, code: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.code = code
        self.message = message


class RunExecutor:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        storage: FileStorage,
        client: OutboundClient,
        config: ExecutorConfig,
        stopping: threading.Event,
        lora_files: LoraFiles | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.storage = storage
        self.client = client
        self.config = config
        self.stopping = stopping
        self.lora_files = lora_files or LoraFiles(
            Path(tempfile.mkdtemp(prefix="pixelrun-loras-")), client, DEFAULT_MAX_LORA_BYTES
        )

    def execute(self, run: RunRecord, deliver_in: OutputDelivery | None = None) -> RunStatus | None:
        """Process a claimed run; returns the terminal status written, or None when not ours anymore.

        With `deliver_in`, a computed run's outputs are encoded, stored and the run finished
        on that thread while the caller goes on with its next run (None is returned then).
        """
        started = time.monotonic()
        log_run = _RunLog(
            self.store,
            run.id,
            webhook=bool(run.callback_url) and wants_webhook_event(run.callback_events, WebhookEvent.LOGS),
        )
        log_run.info(f"claimed by worker {self.config.worker_id} (attempt {run.attempt})")
        lease = LeaseKeeper(
            self.store,
            run.id,
            run.attempt,
            self.config.worker_id,
            self.config.lease_seconds,
            min(self.config.heartbeat_seconds, 0.25),
        )
        lease.start()
        try:
            computed = self._compute(run, lease, log_run, started)
        except BaseException as error:
            lease.stop()
            return self._not_computed(run, error, lease, log_run)
        # The lease stays held until the outputs are stored, by whichever thread delivers them.
        delivery = functools.partial(self._deliver, run, computed, lease, log_run, started)
        if deliver_in is None:
            return delivery()
        deliver_in.submit(delivery)
        return None

    def _not_computed(
        self, run: RunRecord, error: BaseException, lease: LeaseKeeper, log_run: _RunLog
    ) -> RunStatus | None:
        """The run stopped before its images existed: say why, and write what that means."""
        if isinstance(error, RunFailed):
            log_run.error(f"failed at {error.stage.value}: {error.message}", code=error.code)
            return self._finish_failed(run, error)
        if isinstance(error, _DeadlineExceeded):
            log_run.info("canceled: its Cancel-After deadline passed")
            return self._finish_deadline(run)
        if isinstance(error, Canceled):
            log_run.info("stopped: " + ("canceled" if lease.canceled else "no longer held by this worker"))
            return None
        if isinstance(error, _Stopped):
            requeued = self.store.queue.requeue(run.id, run.attempt, self.config.worker_id, "worker_shutdown")
            log_run.info(
                "worker shutting down: run returned to the queue" if requeued else "worker shutting down"
            )
            return None
        raise error

    def _compute(self, run: RunRecord, lease: LeaseKeeper, log_run: _RunLog, started: float) -> _Computed:
        model = get_model(run.model_id)
        if model is None:
            message = f"model {run.model_id} is not in this worker's registry"
            raise RunFailed(FailureStage.VALIDATION, "invalid_input", message)
        try:
            request = model.validate_input(run.input)
        except ValidationError as error:
            raise RunFailed(FailureStage.VALIDATION, "invalid_input", str(error)) from error

        fetch_started = time.monotonic()
        try:
            assets = StoredAssets(self.store, self.storage, run.owner_id)
            images = load_input_images(request.image_urls, self.client, self.config.limits, assets)
            self.engine.check_images(images)
            lora_files = self.lora_files.get_all([lora.path for lora in request.loras], assets)
            self.engine.load_loras(lora_files)
        except (InputImageError, UnsupportedInput, LoraFetchError, AdapterError) as error:
            raise RunFailed(FailureStage.INPUT_FETCH, "input_fetch_failed", str(error)) from error
        fetch_ms = (time.monotonic() - fetch_started) * 1000
        sizes = ", ".join(f"{image.width}x{image.height}" for image in images)
        log_run.info(f"fetched {len(images)} input image(s): {sizes}")
        if lora_files:
            log_run.info(f"LoRA(s) ready: {', '.join(lora.digest[:12] for lora in lora_files)}")
        if self.stopping.is_set():
            raise _Stopped
        if not self.store.queue.mark_running(run.id, run.attempt, self.config.worker_id):
            raise Canceled("not running: canceled, or no longer held by this worker")

        deadline = started + self.config.run_timeout_seconds
        cancel_after = run.deadline_at

        recorder = ProgressRecorder(self.store, run.id)
        every = preview_every(request.preview_every, self.config.preview_every)
        previews = PreviewRecorder(self.store, run.id, every) if every > 0 else None

        def on_step(step: int, steps: int) -> bool:
            lease.progress(step, steps)
            recorder.step(step, steps)
            if self.stopping.is_set():
                raise _Stopped
            if cancel_after is not None and utc_now() >= cancel_after:
                raise _DeadlineExceeded
            if time.monotonic() > deadline:
                raise _TimedOut
            return not lease.lost.is_set()

        if cancel_after is not None and utc_now() >= cancel_after:
            raise _DeadlineExceeded
        try:
            with recorder, previews or contextlib.nullcontext():
                result = self.engine.run(
                    run.model_id,
                    request,
                    images,
                    on_step=on_step,
                    loras=[(file, lora.scale) for file, lora in zip(lora_files, request.loras, strict=True)],
                    previews=previews.request if previews is not None else None,
                )
        except (Canceled, _Stopped, _DeadlineExceeded):
            raise
        except _TimedOut as error:
            raise RunFailed(
                FailureStage.TIMEOUT, "timeout", f"run exceeded {self.config.run_timeout_seconds:.0f} s"
            ) from error
        except Exception as error:
            raise _engine_failure(error) from error
        facts = f"{result.summary}, " if result.summary else ""
        log_run.info(f"inference done in {result.inference_ms:.0f} ms ({facts}seed {result.seed})")
        return _Computed(request, result, fetch_ms)

    def _deliver(
        self, run: RunRecord, computed: _Computed, lease: LeaseKeeper, log_run: _RunLog, started: float
    ) -> RunStatus | None:
        """Encode and store the outputs, price the run and finish it; then release the lease."""
        request, result = computed.request, computed.result
        store_started = time.monotonic()
        try:
            items = save_outputs(
                run.id,
                result.images,
                request.output_format.value,
                sync_mode=request.sync_mode,
                storage=self.storage,
            )
        except (StorageError, OSError) as error:
            failure = RunFailed(FailureStage.STORAGE, "storage_failed", f"could not store outputs: {error}")
            log_run.error(f"failed at {failure.stage.value}: {failure.message}", code=failure.code)
            return self._finish_failed(run, failure)
        finally:
            lease.stop()  # the run's status write below is fenced anyway
        store_ms = (time.monotonic() - store_started) * 1000
        pricing = price_outputs([(image.width, image.height) for image in result.images])
        output = _output_object(result, items, run, computed.fetch_ms, store_ms, started)
        finished = self.store.queue.finish(
            run.id,
            run.attempt,
            self.config.worker_id,
            RunStatus.SUCCEEDED,
            output=output,
            cost=pricing.cost_str,
            cost_breakdown=pricing.breakdown,
            cost_micros=pricing.cost_micros,
        )
        if not finished:
            log.info("run %s: result dropped, the run was finished elsewhere (canceled or reaped)", run.id)
            return None
        log_run.info(f"succeeded in {(time.monotonic() - started):.2f} s, cost ${pricing.cost_str}")
        return RunStatus.SUCCEEDED

    def _finish_deadline(self, run: RunRecord) -> RunStatus | None:
        done = self.store.queue.finish(
            run.id,
            run.attempt,
            self.config.worker_id,
            RunStatus.CANCELED,
            failure_code=DEADLINE_EXCEEDED,
            failure_message="canceled by its Cancel-After deadline while running",
        )
        return RunStatus.CANCELED if done else None

    def _finish_failed(self, run: RunRecord, failure: RunFailed) -> RunStatus | None:
        done = self.store.queue.finish(
            run.id,
            run.attempt,
            self.config.worker_id,
            RunStatus.FAILED,
            failure_code=failure.code,
            failure_message=failure.message,
            failure_stage=failure.stage,
        )
        return RunStatus.FAILED if done else None


def _engine_failure(error: Exception) -> RunFailed:
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        message = "the GPU ran out of memory; try a smaller image_size or fewer num_images"
        return RunFailed(FailureStage.INFERENCE, "out_of_memory", message)
    log.exception("engine error")
    return RunFailed(FailureStage.INFERENCE, "inference_failed", f"{type(error).__name__}: {error}")


def _output_object(
    result: RunResult,
    items: list[dict],
    run: RunRecord,
    fetch_ms: float,
    store_ms: float,
    started: float,
) -> dict[str, Any]:
    """The engine-neutral output object around the model's own `model_data`."""
    flags = result.nsfw_flags
    queue_ms = (run.dispatched_at - run.created_at).total_seconds() * 1000 if run.dispatched_at else None
    return {
        "outputs": items,
        "seed": result.seed,
        "model_data": result.model_data,
        "nsfw_detected": any(flags) if flags is not None else None,
        "timing": {
            "inference_ms": round(result.inference_ms),
            "safety_ms": round(result.safety_ms),
            "fetch_ms": round(fetch_ms),
            # Encoding the outputs and writing them to storage.
            "store_ms": round(store_ms),
            "queue_ms": round(queue_ms) if queue_ms is not None else None,
            "total_ms": round((utc_now() - run.created_at).total_seconds() * 1000),
            "worker_ms": round((time.monotonic() - started) * 1000),
        },
    }


class _RunLog:
    """Run log lines (GET /v1/runs/{id}/logs), mirrored to the process log."""

    def __init__(self, store: Store, run_id: str, *, webhook: bool = False) -> None:
        """`webhook`: the run's webhook asked for `logs` events (docs/compatibility.md#replicate-predictions)."""
        self.store = store
        self.run_id = run_id
        self.webhook = webhook

    def _write(self, level: str, message: str, meta: dict[str, Any] | None) -> None:
        getattr(log, level)("run %s: %s", self.run_id, message)
        try:
            self.store.history.add_log(self.run_id, level, message, meta, webhook=self.webhook)  # type: ignore[arg-type]
        except Exception:
            log.exception("could not write a log line of run %s", self.run_id)

    def info(self, message: str, **meta: Any) -> None:
        self._write("info", message, meta or None)

    def error(self, message: str, **meta: Any) -> None:
        self._write("error", message, meta or None)
