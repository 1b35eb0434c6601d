"""The file storage interface: what the worker writes outputs to and the API serves from.

Keys are relative POSIX paths (which ones: storage/layout.py) so that the same key names
an object in a local directory or in an S3 bucket without translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


class StorageError(Exception):
    """Any failure of the storage back end (I/O, permissions, bad configuration)."""


class InvalidKeyError(StorageError, ValueError):
    """A key or prefix that is not a safe relative POSIX path."""


class StoredFileNotFoundError(StorageError, LookupError):
    """No file is stored under the key."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    content_type: str


@runtime_checkable
class FileStorage(Protocol):
    """A flat namespace of immutable-ish blobs addressed by key.

    Methods are blocking; async callers run them in a thread. Every method that takes a
    key raises :class:`InvalidKeyError` for a key that ``validate_key`` refuses.
    """

    def put(self, key: str, data: bytes, content_type: str) -> StoredFile:
        """Store ``data`` under ``key`` atomically: readers see the old file or the new one."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the file (caller closes it), for serving.

        Raises :class:`StoredFileNotFoundError` when the key is absent.
        """
        ...

    def stat(self, key: str) -> StoredFile:
        """Size and content type, for response headers; raises StoredFileNotFoundError."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every file whose key starts with ``prefix`` (which ends in ``/``).

        Returns how many files were deleted.
        """
        ...

    def url_for(self, key: str, expires_in: int) -> str:
        """An absolute URL a client can GET without a key, valid for ``expires_in`` seconds."""
        ...

    def upload_url_for(self, key: str, expires_in: int, size: int | None = None) -> str:
        """An absolute URL a client can PUT the file's bytes to without a key, with the
        ``Content-Type`` of the key's extension, valid for ``expires_in`` seconds; back
        ends that can also bind the body to ``size`` bytes do."""
        ...

    def read(self, key: str, max_bytes: int) -> bytes:
        """The whole file; raises StoredFileNotFoundError, or StorageError when it is
        larger than ``max_bytes`` (nothing past the limit is read)."""
        ...

    def ping(self) -> None:
        """Readiness: raise StorageError when the back end cannot be written to."""
        ...
