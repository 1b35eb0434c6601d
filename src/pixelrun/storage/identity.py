"""Is this process's file storage the one every other process of the deployment uses?

A local directory gets an identity of its own: a random id in a marker file at its root,
so two processes that see the same directory (one machine, or a share every machine
mounts) agree, and two data directories on two machines never do. A bucket's identity is
`s3://BUCKET/PREFIX`. Each process reports its identity to the store every few seconds
(`StorageReporter`); readiness fails while the identities reported recently differ, and
a missing file is reported as probably being on another machine's disk
(docs/deployment.md, "Settings that must agree").
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from pixelrun.storage.base import FileStorage
from pixelrun.storage.local import LocalFileStorage
from pixelrun.storage.s3 import S3FileStorage

log = logging.getLogger(__name__)

#: At the root of a local storage directory; no storage key can name it (keys never start with ".").
MARKER = ".pixelrun-storage-id"
#: How often a process reports its storage, and how long a report counts for readiness.
REPORT_SECONDS = 15.0
LIVE_SECONDS = 60.0
FIX = (
    "set PIXELRUN_STORAGE_URL to the same shared storage on every process "
    "(an s3:// bucket, or a directory every machine mounts)"
)
ELSEWHERE = (
    "File not found in this server's file storage. Other Pixelrun processes that share its "
    "store keep their files elsewhere (PIXELRUN_STORAGE_URL differs between them), so this "
    "file is probably on another machine's disk: the operator must " + FIX + "."
)


@dataclass(frozen=True)
class StorageIdentity:
    identity: str
    description: str


class Reported(Protocol):
    identity: str
    description: str
    host: str


class IdentityLog(Protocol):
    """The store's `storage_identities`."""

    def report(self, identity: str, description: str, host: str) -> None: ...

    def others(self, identity: str, within: timedelta | None = None) -> Sequence[Reported]: ...


def storage_identity(storage: FileStorage) -> StorageIdentity:
    if isinstance(storage, LocalFileStorage):
        directory_id = _directory_id(storage.root)
        return StorageIdentity(
            f"local:{directory_id}", f"local directory {storage.root} on {socket.gethostname()}"
        )
    if isinstance(storage, S3FileStorage):
        url = f"s3://{storage.bucket}/{storage.prefix}".rstrip("/")
        return StorageIdentity(url, url)
    name = type(storage).__name__
    return StorageIdentity(f"{name}:{id(storage)}", name)


def _directory_id(root: Path) -> str:
    """The id in the directory's marker file, written (without replacing a racing writer's) if absent."""
    marker = root / MARKER
    with contextlib.suppress(FileNotFoundError):
        return marker.read_text().strip()
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(uuid.uuid4().hex)
        os.chmod(tmp, 0o644)
        with contextlib.suppress(FileExistsError):  # another process wrote it first: theirs counts
            os.link(tmp, marker)
    finally:
        os.unlink(tmp)
    return marker.read_text().strip()


def mismatch(storage: FileStorage, identities: IdentityLog) -> str | None:
    """Why this process's storage is not the deployment's (for readiness), or None."""
    mine = storage_identity(storage)
    others = identities.others(mine.identity, timedelta(seconds=LIVE_SECONDS))
    if not others:
        return None
    listed = "; ".join(f"{o.description} (reported from {o.host})" for o in others[:3])
    more = f" and {len(others) - 3} more" if len(others) > 3 else ""
    return (
        f"PIXELRUN_STORAGE_URL differs between the processes that share this store: this one uses "
        f"{mine.description}, others use {listed}{more}. A file one of them writes is missing on "
        f"the others: {FIX}"
    )


def elsewhere(storage: FileStorage, identities: IdentityLog) -> str | None:
    """For a missing file: the error that says it is probably on another machine's disk, or None."""
    others = identities.others(storage_identity(storage).identity)
    if not others:
        return None
    log.warning(
        "a file was asked for that this process's storage does not have; processes sharing the store "
        "use other storage too (%s): %s",
        "; ".join(f"{o.description} from {o.host}" for o in others[:3]),
        FIX,
    )
    return ELSEWHERE


class StorageReporter:
    """Reports this process's storage identity to the store every REPORT_SECONDS, on a daemon thread."""

    def __init__(self, identities: IdentityLog, storage: FileStorage) -> None:
        self._identities = identities
        self._storage = storage
        self._identity: StorageIdentity | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storage-reporter", daemon=True)

    def start(self) -> StorageReporter:
        try:
            self._identity = storage_identity(self._storage)
        except OSError as exc:  # an unwritable directory: readiness's storage check says so
            log.warning("cannot tell which file storage this process uses: %s", exc)
            return self
        self._report()  # at once, so that readiness elsewhere sees this process from its start
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(REPORT_SECONDS):
            self._report()

    def _report(self) -> None:
        assert self._identity is not None
        try:
            self._identities.report(self._identity.identity, self._identity.description, socket.gethostname())
        except Exception as exc:  # the store may be down: the next report will do
            log.warning("could not report this process's file storage to the store: %s", exc)
