"""The worker process: load the model once, then claim and execute runs until told to stop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from pixelrun import maintenance
from pixelrun.config import Settings
from pixelrun.engines.registry import MODELS
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.storage import FileStorage, storage_from_settings
from pixelrun.storage.identity import StorageReporter
from pixelrun.store import Store, WorkerStatus, is_unavailable
from pixelrun.weights.unavailable import WeightsUnavailable
from pixelrun.worker.delivery import OutputDelivery
from pixelrun.worker.served_models import served_models
from pixelrun.worker.vitals import engine_figures, gpu_memory

if TYPE_CHECKING:
    from pixelrun.engines.engine import Engine

log = logging.getLogger(__name__)

#: How long a worker waits before trying a store that could not be reached again.
STORE_RETRY_SECONDS = 1.0


class Worker:
    def __init__(self, settings: Settings, *, name: str | None = None) -> None:
        self.settings = settings
        self.worker_id = settings.worker_id or f"wrk_{uuid.uuid4().hex[:16]}"
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.store = Store(settings.resolved_database_url, listen_url=settings.listen_database_url)
        self._status = "starting"
        self._registration: tuple[list[str], str, dict[str, Any]] | None = None
        #: Reaping and deadlines between runs and while idle (pixelrun.maintenance).
        self.housekeeping = maintenance.for_worker(self.store)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            log.info("worker %s: signal %s, stopping after the current step", self.worker_id, signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> None:
        """Serve until stopped. Raises `WeightsUnavailable` (after marking this worker
        failed in the store) when the model cannot be loaded."""
        models = served_models(self.settings)
        self.store.migrate()
        # Before the (slow) model load, so a storage or signing-secret misconfiguration
        # stops the worker at once, with its message.
        storage = storage_from_settings(
            self.settings, self.store.shared_settings, self.store.shared_settings.deployment_has_runs
        )
        # Readiness compares the storage every process reports (docs/deployment.md).
        reporter = StorageReporter(self.store.storage_identities, storage).start()
        try:
            self._serve(models, storage)
        finally:
            reporter.stop()

    def _serve(self, models: list[str], storage: FileStorage) -> None:
        """Load the model, then claim and execute runs until stopped."""
        info = {"weights": self.settings.weights, "pid": os.getpid()}
        self.store.workers.register(self.worker_id, self.name, models, self.settings.device, info, "loading")
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="worker-heartbeat", daemon=True)
        heartbeat.start()
        self._status = "loading"
        log.info("worker %s: loading %s weights", self.worker_id, self.settings.weights)
        started = time.monotonic()
        try:
            engine = self._load_engine(models)
        except WeightsUnavailable as error:
            self._status = "failed"
            self.stopping.set()
            self.store.availability.mark_failed(self.worker_id, error.reason, error.message)
            raise
        device = str(engine.device)
        if engine.compiled:
            self._warm_up(engine, models, device, info)
        load_seconds = time.monotonic() - started
        log.info("worker %s: model ready on %s in %.1f s", self.worker_id, device, load_seconds)
        info = {**info, "device": device, **engine_figures(engine, load_seconds)}
        info = {**info, **gpu_memory(device)}
        self.store.workers.register(self.worker_id, self.name, models, device, info, "ready")
        # Kept to register again if retention deleted the row (no heartbeat for a day).
        self._registration = (models, device, info)
        self._status = "ready"
        # Imported here, not at the top: they pull in torch, and a worker whose weights
        # are missing should say so before spending seconds importing it.
        from pixelrun.worker.executor import ExecutorConfig, RunExecutor
        from pixelrun.worker.inputs import InputLimits
        from pixelrun.worker.lora_files import LoraFiles

        client = OutboundClient(
            NetworkPolicy.from_settings(self.settings.allow_private_urls, self.settings.allowed_networks),
            self.settings.fetch_connect_timeout_seconds,
            self.settings.fetch_total_timeout_seconds,
        )
        lora_files = LoraFiles(
            self.settings.lora_dir, client, self.settings.max_lora_bytes, self.settings.lora_cache_bytes
        )
        executor = RunExecutor(
            self.store,
            engine,
            storage,
            client,
            ExecutorConfig(
                worker_id=self.worker_id,
                lease_seconds=self.settings.lease_seconds,
                heartbeat_seconds=self.settings.heartbeat_seconds,
                run_timeout_seconds=self.settings.run_timeout_seconds,
                limits=InputLimits(self.settings.max_image_bytes, self.settings.max_image_pixels),
                preview_every=self.settings.preview_every,
            ),
            self.stopping,
            lora_files,
        )
        waiter = self.store.queue.waiter(models, self.settings.poll_interval_seconds)
        # Outputs are encoded and stored on their own thread while the next run computes.
        delivery = OutputDelivery()
        try:
            while not self.stopping.is_set():
                try:
                    self.housekeeping.run_if_due()
                    lora_files.sweep_if_due(self.store)
                    run = self.store.queue.claim(
                        self.worker_id,
                        models,
                        self.settings.lease_seconds,
                        self.settings.max_active_runs_per_key,
                    )
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    # The store is down: wait for it rather than exit (the runs are safe there).
                    log.warning(
                        "worker %s: store unavailable, retrying: %s", self.worker_id, _first_line(exc)
                    )
                    self.stopping.wait(STORE_RETRY_SECONDS)
                    continue
                if run is None:
                    # Wakes up for housekeeping even when no run arrives.
                    waiter.wait(self.housekeeping.interval)
                    continue
                self._status = "busy"
                self._report("busy")
                try:
                    executor.execute(run, delivery)
                except Exception:
                    # Unexpected (e.g. the store went away mid-run): the lease expires and
                    # the reaper re-queues the run; this worker carries on.
                    log.exception("worker %s: run %s crashed the executor", self.worker_id, run.id)
                finally:
                    self._status = "ready"
                    # GPU memory after the run reaches /metrics through the store.
                    self._report("ready", {**info, **gpu_memory(device)})
        finally:
            # A computed run is delivered before the worker says it stopped, even on SIGTERM.
            delivery.close()
            waiter.close()
            with contextlib.suppress(Exception):
                self.store.workers.mark_stopped(self.worker_id)
            log.info("worker %s: stopped", self.worker_id)

    def _load_engine(self, models: list[str]) -> Engine:
        # `served_models` checked that one engine serves them all; the registry's loader
        # imports the engine's package (and torch) only now.
        return MODELS[models[0]].load_engine(self.settings, models)

    def _warm_up(self, engine: Engine, models: list[str], device: str, info: dict) -> None:
        """Compile the common shapes before saying ready; the registered info says so meanwhile."""
        log.info("worker %s: warming up the compiled engine", self.worker_id)
        started = time.monotonic()
        self.store.workers.register(
            self.worker_id,
            self.name,
            models,
            device,
            {**info, "device": device, "phase": "warming up"},
            "loading",
        )
        engine.warm_up(on_done=lambda label: log.info("worker %s: warmed up %s", self.worker_id, label))
        log.info("worker %s: warm-up done in %.1f s", self.worker_id, time.monotonic() - started)

    def _report(self, status: WorkerStatus, info: dict[str, Any] | None = None) -> None:
        """Heartbeat with a new status; a store outage only delays it to the next heartbeat."""
        try:
            self.store.workers.heartbeat(self.worker_id, status, info)
        except Exception as exc:
            log.warning("worker %s: could not report %s: %s", self.worker_id, status, _first_line(exc))

    def _register_again(self) -> None:
        """The row is gone: retention deletes worker rows a day after their last heartbeat
        (docs/operations.md#retention), which a worker cut off from the store that long
        outlives. Without a row the API would think its models unserved."""
        if self._registration is None:
            return
        models, device, info = self._registration
        self.store.workers.register(self.worker_id, self.name, models, device, info, self._status)  # type: ignore[arg-type]
        log.warning(
            "worker %s: its row was gone (deleted after a day without heartbeat); registered again",
            self.worker_id,
        )

    def _parent_gone(self) -> bool:
        parent = self.settings.parent_pid
        return parent is not None and os.getppid() != parent

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_seconds):
            if self._parent_gone():
                # `pixelrun serve` died without stopping us (SIGKILL, OOM killer): stop like
                # on SIGTERM, so no orphan keeps a model in memory and runs claimed.
                log.warning(
                    "worker %s: parent process %s is gone; stopping", self.worker_id, self.settings.parent_pid
                )
                self.stopping.set()
                return
            try:
                if not self.store.workers.heartbeat(self.worker_id, self._status):  # type: ignore[arg-type]
                    self._register_again()
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("worker %s: heartbeat failed, the store is unavailable", self.worker_id)
                else:
                    log.exception("worker heartbeat failed")


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
