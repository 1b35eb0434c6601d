"""Real Pixelrun processes (`pixelrun serve`, `pixelrun worker`) on loopback ports, for end-to-end tests."""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

KEY_LINE = re.compile(r"^\s+(px_\S+)\s*$")
TERMINAL = {"succeeded", "failed", "canceled"}


def wait_for(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"condition not met in {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_environment(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PIXELRUN_DATA_DIR": str(data_dir),
            "PIXELRUN_DATABASE_URL": database_url,
            "PIXELRUN_WEIGHTS": "tiny",
            "PIXELRUN_DEVICE": "cpu",
            # Test images and receivers live on loopback.
            "PIXELRUN_ALLOW_PRIVATE_URLS": "1",
            "PIXELRUN_LEASE_SECONDS": "3",
            "PIXELRUN_HEARTBEAT_SECONDS": "0.5",
            "HF_HUB_OFFLINE": "1",
            **extra,
        }
    )
    return env


class PixelrunProcess:
    """One `pixelrun ...` child process; its output goes to a log file shown on failure."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> PixelrunProcess:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pixelrun.cli", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class Server(PixelrunProcess):
    """`pixelrun serve` on a free loopback port."""

    def __init__(
        self, data_dir: Path, database_url: str, *, workers: int = 1, port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.key: str | None = None
        args = ["serve", "--port", str(self.port), "--workers", str(workers)]
        super().__init__(
            args, test_environment(data_dir, database_url, **env), data_dir / f"serve-{self.port}.log"
        )

    def start(self) -> Server:
        super().start()
        assert self.process is not None and self.process.stdout is not None
        threading.Thread(target=self._read_stdout, daemon=True).start()
        return self

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            match = KEY_LINE.match(line)
            if match and self.key is None:
                self.key = match.group(1)

    def wait_ready(self, timeout: float = 120, need_worker: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.log_text()[-4000:]}"
                )
            try:
                path = "/v1/readiness" if need_worker else "/v1/health"
                if requests.get(self.base_url + path, timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not ready in {timeout} s:\n{self.log_text()[-4000:]}")

    def wait_key(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while self.key is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.key, f"no key printed:\n{self.log_text()[-3000:]}"
        return self.key

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def get_run(self, run_id: str, key: str | None = None) -> dict[str, Any]:
        response = requests.get(f"{self.base_url}/v1/runs/{run_id}", headers=self.headers(key), timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_run(self, run_id: str, timeout: float = 120, key: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get_run(run_id, key)
            if run["status_code"] in TERMINAL:
                return run
            time.sleep(0.2)
        raise TimeoutError(f"run {run_id} not terminal after {timeout} s: {run}\n{self.log_text()[-3000:]}")


class Worker(PixelrunProcess):
    """A standalone `pixelrun worker`."""

    def __init__(self, data_dir: Path, database_url: str, name: str, **env: str) -> None:
        super().__init__(
            ["worker", "--name", name],
            test_environment(data_dir, database_url, **env),
            data_dir / f"{name}.log",
        )


class StaticFiles:
    """A loopback HTTP server for input images; counts requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
