"""`pixelrun serve`: the API in this process and N worker processes beside it, supervised."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import typer
from fastapi import FastAPI

from pixelrun.config import Settings
from pixelrun.storage import StorageError, storage_from_settings
from pixelrun.storage.identity import StorageReporter
from pixelrun.store import Store
from pixelrun.weights.unavailable import EXIT_WEIGHTS_UNAVAILABLE
from pixelrun.worker.served_models import served_models

log = logging.getLogger(__name__)

#: A 16x16 PNG, inline, so the printed curl works on a machine without internet.
_EXAMPLE_IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAGUlEQVR4nGOUizrBQApgIkn1qIZRDUNKAwAFIgFgCRCdbAAAAABJRU5ErkJggg=="
STOP_GRACE_SECONDS = 30.0
#: How often the supervisor looks at its workers.
WATCH_SECONDS = 0.25


def worker_environment(settings: Settings, worker_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # The worker stops by itself if this process dies without stopping it (SIGKILL).
            "PIXELRUN_PARENT_PID": str(os.getpid()),
            "PIXELRUN_WORKER_ID": worker_id,
            "PIXELRUN_DATA_DIR": str(settings.data_dir.resolve()),
            "PIXELRUN_DATABASE_URL": settings.resolved_database_url,
            "PIXELRUN_WEIGHTS": settings.weights,
            "PIXELRUN_DEVICE": settings.device,
            "PIXELRUN_MODELS": ",".join(served_models(settings)),
            "PIXELRUN_PUBLIC_BASE_URL": settings.public_base_url,
        }
    )
    return env


def restart_delay(load_failures: int, base: float, cap: float) -> float:
    """Seconds before the next start: `base` after an ordinary exit, doubling per load failure in a row."""
    return min(base * 2 ** max(load_failures - 1, 0), cap)


@dataclass
class WorkerSlot:
    """One worker process the supervisor keeps running, and its restart state."""

    index: int
    name: str
    process: subprocess.Popen[bytes] | None = None
    worker_id: str = ""
    #: Load failures in a row; a worker that got its model loaded resets it.
    load_failures: int = 0
    restart_at: float | None = None
    given_up: bool = False


class WorkerSupervisor:
    """Starts worker processes and restarts any that die, until stopped.

    Restarts back off exponentially (`worker_restart_backoff_seconds`, doubling per load
    failure in a row, capped at `worker_restart_backoff_max_seconds`). A worker that
    cannot load its model marks itself failed in the store and exits with
    `EXIT_WEIGHTS_UNAVAILABLE`; one that dies while loading is marked failed here. After
    `worker_max_load_failures` in a row the slot is given up: restarting cannot fix
    missing weights, and readiness shows the stored reason.
    """

    def __init__(self, settings: Settings, count: int, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store
        self.slots = [WorkerSlot(index, f"{os.uname().nodename}:w{index}") for index in range(count)]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [slot.process for slot in self.slots if slot.process is not None]

    def _spawn(self, slot: WorkerSlot) -> None:
        slot.worker_id = f"wrk_{uuid.uuid4().hex[:16]}"
        command = [sys.executable, "-m", "pixelrun.cli", "worker", "--name", slot.name]
        slot.process = subprocess.Popen(command, env=worker_environment(self.settings, slot.worker_id))

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            for slot in self.slots:
                if slot.process is not None:
                    code = slot.process.poll()
                    if code is None or self._stopping.is_set():
                        continue
                    slot.process = None
                    try:
                        self._after_exit(slot, code)
                    except Exception:  # the store may be down: restart anyway, later
                        log.exception("worker %s: could not record its exit", slot.name)
                        slot.restart_at = time.monotonic() + self.settings.worker_restart_backoff_max_seconds
                if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                    slot.restart_at = None
                    if not self._stopping.is_set():
                        self._spawn(slot)

    def _after_exit(self, slot: WorkerSlot, code: int) -> None:
        failure = self._load_failure(slot, code)
        settings = self.settings
        if failure is None:
            slot.load_failures = 0
            delay = settings.worker_restart_backoff_seconds
            log.error("worker %s exited with status %s; restarting in %.1f s", slot.name, code, delay)
            slot.restart_at = time.monotonic() + delay
            return
        slot.load_failures += 1
        limit = settings.worker_max_load_failures
        if slot.load_failures >= limit:
            slot.given_up = True
            message = f"{failure} (not restarted after {limit} load failures in a row)"
            if self.store is not None:
                self.store.availability.mark_failed(slot.worker_id, self._reason(slot), message)
            log.error(
                "worker %s: the model could not be loaded %d times in a row; not restarting it. "
                "Fix the cause and restart `pixelrun serve`. Last error: %s",
                slot.name,
                limit,
                failure,
            )
            return
        delay = restart_delay(
            slot.load_failures,
            settings.worker_restart_backoff_seconds,
            settings.worker_restart_backoff_max_seconds,
        )
        log.error(
            "worker %s: the model could not be loaded (%d of %d); restarting in %.1f s",
            slot.name,
            slot.load_failures,
            limit,
            delay,
        )
        slot.restart_at = time.monotonic() + delay

    def _reason(self, slot: WorkerSlot) -> str:
        record = self.store.workers.get(slot.worker_id) if self.store is not None else None
        return (record.failure_reason if record else None) or "crashed"

    def _load_failure(self, slot: WorkerSlot, code: int) -> str | None:
        """The failure message when the worker exited before its model was loaded, else None.

        A worker that died while loading (killed for memory, an import error) could not
        say why itself: it is marked failed here, with its exit status.
        """
        if self.store is None:
            return "the model could not be loaded" if code == EXIT_WEIGHTS_UNAVAILABLE else None
        record = self.store.workers.get(slot.worker_id)
        if record is not None and record.status == "failed":
            return record.failure_message or "the model could not be loaded"
        if record is not None and record.status not in ("starting", "loading"):
            return None  # it had loaded its model: an ordinary crash or stop
        if code == 0:
            return None
        died = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        message = (
            f"worker {died} while loading weights {self.settings.weights}"
            + (" (out of host memory?)" if code == -signal.SIGKILL else "")
            + "; run `pixelrun worker -v` to see why"
        )
        self.store.availability.mark_failed(
            slot.worker_id,
            "crashed",
            message,
            name=slot.name,
            model_ids=served_models(self.settings),
            device=self.settings.device,
        )
        return message

    def stop(self) -> None:
        if self._stopping.is_set() and not any(p.poll() is None for p in self.processes):
            return
        self._stopping.set()
        processes = self.processes
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def first_key_banner(settings: Settings, store: Store) -> str | None:
    """On an empty store, create an owner and a key and say how to use them."""
    if store.keys.count() > 0:
        return None
    owner = store.owners.ensure("default")
    _, plain = store.keys.create(owner.id, "first key")
    base = settings.public_base_url.rstrip("/")
    return (
        "\nPixelrun: the store had no API key, so one was created (shown only now):\n\n"
        f"    {plain}\n\n"
        "Try it:\n\n"
        f"    curl -s -X POST {base}/v1/models/alibaba/qwen-image-edit-2511/runs \\\n"
        f'      -H "Authorization: Bearer {plain}" -H "Content-Type: application/json" \\\n'
        f'      -d \'{{"input": {{"prompt": "make it blue", "image_size": "square", '
        f'"image_urls": ["{_EXAMPLE_IMAGE}"]}}}}\'\n\n'
        f'then poll:  curl -s {base}/v1/runs/<id> -H "Authorization: Bearer {plain}"\n'
    )


def serve(settings: Settings, workers: int) -> None:
    import uvicorn

    from pixelrun.api.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.migrate()
    try:
        # Here rather than in the app's lifespan: a signing secret this process may not
        # invent, or a bad storage URL, stops it with one clear line before anything starts.
        storage = storage_from_settings(
            settings, store.shared_settings, store.shared_settings.deployment_has_runs
        )
    except StorageError as exc:
        store.close()
        typer.echo(f"pixelrun serve: {exc}", err=True)
        raise typer.Exit(2) from None
    StorageReporter(store.storage_identities, storage).start()  # readiness compares them
    banner = first_key_banner(settings, store)
    if banner:
        typer.echo(banner)
        sys.stdout.flush()
    supervisor = WorkerSupervisor(settings, workers, store)
    if workers:
        supervisor.start()
    app = create_app(settings, store, storage)
    stop_workers_on_shutdown(app, supervisor)
    try:
        log.info("serving on http://%s:%d (%d worker process(es))", settings.host, settings.port, workers)
        # log_config=None: uvicorn's loggers go through our handlers (text or JSON), its
        # INFO banner and access lines stay below our WARNING threshold for libraries.
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            # Bounded open connections (docs/security.md#limits): past it uvicorn answers 503 at once.
            limit_concurrency=settings.max_connections,
        )
    finally:
        supervisor.stop()
        store.close()


def stop_workers_on_shutdown(app: FastAPI, supervisor: WorkerSupervisor) -> None:
    """Stop the workers during the app's shutdown.

    uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down, which ends this
    process before any `finally` after `uvicorn.run` can run; the lifespan's exit is the
    last code that reliably runs, so the workers are stopped there.
    """
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running_app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(running_app) as state:
                yield state
        finally:
            await asyncio.to_thread(supervisor.stop)

    app.router.lifespan_context = lifespan
