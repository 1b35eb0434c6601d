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
from collections.abc import AsyncIterator
from typing import Any

import typer
from fastapi import FastAPI

from pixelrun.config import Settings
from pixelrun.store import Store

log = logging.getLogger(__name__)

#: A 16x16 PNG, inline, so the printed curl works on a machine without internet.
_EXAMPLE_IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAGUlEQVR4nGOUizrBQApgIkn1qIZRDUNKAwAFIgFgCRCdbAAAAABJRU5ErkJggg=="
RESTART_BACKOFF_SECONDS = 2.0
STOP_GRACE_SECONDS = 30.0


def worker_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # The worker stops by itself if this process dies without stopping it (SIGKILL).
            "PIXELRUN_PARENT_PID": str(os.getpid()),
            "PIXELRUN_DATA_DIR": str(settings.data_dir.resolve()),
            "PIXELRUN_DATABASE_URL": settings.resolved_database_url,
            "PIXELRUN_WEIGHTS": settings.weights,
            "PIXELRUN_DEVICE": settings.device,
            "PIXELRUN_MODELS": ",".join(settings.models),
            "PIXELRUN_PUBLIC_BASE_URL": settings.public_base_url,
        }
    )
    return env


class WorkerSupervisor:
    """Starts worker processes and restarts any that die, until stopped."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "pixelrun.cli",
            "worker",
            "--name",
            f"{os.uname().nodename}:w{index}",
        ]
        return subprocess.Popen(command, env=worker_environment(self.settings))

    def start(self) -> None:
        self.processes = [self._spawn(index) for index in range(self.count)]
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self.processes):
                code = process.poll()
                if code is not None and not self._stopping.is_set():
                    log.error("worker %d (pid %d) exited with %s; restarting", index, process.pid, code)
                    time.sleep(RESTART_BACKOFF_SECONDS)
                    self.processes[index] = self._spawn(index)

    def stop(self) -> None:
        if self._stopping.is_set() and not any(p.poll() is None for p in self.processes):
            return
        self._stopping.set()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def first_key_banner(settings: Settings, store: Store) -> str | None:
    """On an empty store, create an owner and a key and say how to use them."""
    if store.count_api_keys() > 0:
        return None
    owner = store.ensure_owner("default")
    _, plain = store.create_api_key(owner.id, "first key")
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
    banner = first_key_banner(settings, store)
    if banner:
        typer.echo(banner)
        sys.stdout.flush()
    supervisor = WorkerSupervisor(settings, workers)
    if workers:
        supervisor.start()
    app = create_app(settings, store)
    stop_workers_on_shutdown(app, supervisor)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
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
