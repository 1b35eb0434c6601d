"""Child processes of the API benches (`pixelrun serve`, `pixelrun worker`, a baseline app) and
what they run against: a free port, Pixelrun's environment, a throwaway PostgreSQL database.

Every child runs in its own session and is killed on exit (atexit); used by api_throughput.py
and sse_streams.py.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ClassVar

import httpx

KEY_LINE = re.compile(r"^\s+(px_\S+)\s*$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process in its own session (so its whole group can be killed); output goes to a log file."""

    live: ClassVar[list[Child]] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.key: str | None = None
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        Child.live.append(self)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        # stdout is read (not sent to the log directly) because `serve` prints the first key there.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.write(line)
            match = KEY_LINE.match(line)
            if match and self.key is None:
                self.key = match.group(1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Anything left in the group (also after a clean exit of the leader) is killed.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self in Child.live:
            Child.live.remove(self)
        self._log.close()

    @classmethod
    def kill_all(cls) -> None:
        for child in list(cls.live):
            with suppress(Exception):
                child.stop(timeout=5)


atexit.register(Child.kill_all)


def wait_http(
    base_url: str, path: str, child: Child, timeout: float, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            response = httpx.get(base_url + path, headers=headers, timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}{path} not 200 after {timeout} s ({last}):\n{child.log_tail()}")


def pixelrun_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PIXELRUN_DATA_DIR": str(data_dir),
            "PIXELRUN_DATABASE_URL": database_url,
            "PIXELRUN_WEIGHTS": "tiny",
            "PIXELRUN_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # The load runs with no worker (it would compete for the CPU): queue the creates
            # instead of refusing them with 503 MODEL_UNAVAILABLE.
            "PIXELRUN_MODEL_GRACE_SECONDS": "-1",
        }
    )
    return env


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database for the bench, dropped at the end; yields its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    admin_dsn = admin.render_as_string(hide_password=False)
    name = f"pixelrun_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
