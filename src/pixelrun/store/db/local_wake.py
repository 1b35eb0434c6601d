"""Wake-ups between the processes of one box on SQLite: Unix datagram sockets in a directory.

SQLite has no LISTEN/NOTIFY. Each idle worker binds a datagram socket in a directory next
to the database file (`<db>.wake/`); a transaction that queues a run sends, after its
commit, one datagram (the model id) to every socket there. A send never blocks (a full
socket buffer already means "wake up") and a socket whose process died is removed by the
next sender. A wake-up is only a hint: workers keep polling at their poll interval, which
also covers processes on other machines sharing the file (not recommended for SQLite).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

# sockaddr_un's path limit on Linux (108 bytes with the terminating NUL).
_MAX_SOCKET_PATH = 107


def wake_dir(database_path: str) -> Path:
    return Path(database_path + ".wake")


def wake_local(database_path: str, model_ids: set[str]) -> None:
    """Tell every local waiter of this database that runs of `model_ids` were queued."""
    directory = wake_dir(database_path)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return  # no worker has ever waited on this database
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in names:
            path = str(directory / name)
            for model_id in model_ids:
                try:
                    sender.sendto(model_id.encode("utf-8"), path)
                except BlockingIOError:
                    break  # its buffer is full: it has wake-ups waiting already
                except OSError as exc:
                    if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                        # Nobody reads it any more (the worker died without cleaning up).
                        with contextlib.suppress(OSError):
                            os.unlink(path)
                    break


class LocalWakeReceiver:
    """A worker's socket in the wake directory; `wait` returns on a datagram or a timeout."""

    def __init__(self, database_path: str) -> None:
        directory = wake_dir(database_path)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / f"{uuid.uuid4().hex[:12]}.sock")
        if len(self.path.encode()) > _MAX_SOCKET_PATH:
            raise OSError(errno.ENAMETOOLONG, f"wake socket path too long: {self.path}")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.bind(self.path)
        except OSError:
            self._sock.close()
            raise

    def wait(self, timeout: float, model_ids: frozenset[str] | None) -> bool:
        """True when woken for one of `model_ids` (None: any) before `timeout` seconds."""
        self._sock.settimeout(max(timeout, 0.0) or 0.0001)
        try:
            payload = self._sock.recv(512)
        except TimeoutError:
            return False
        woken = model_ids is None or payload.decode("utf-8", "replace") in model_ids
        # Several creates in a burst leave several datagrams: one wake-up is enough.
        self._sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                payload = self._sock.recv(512)
                woken = woken or model_ids is None or payload.decode("utf-8", "replace") in model_ids
        return woken

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
