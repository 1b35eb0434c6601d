"""Output files in a local directory (the single-machine deployment)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from pixelrun.storage.base import InvalidKeyError, StorageError, StoredFile, StoredFileNotFoundError
from pixelrun.storage.content_types import content_type_for, normalize_content_type
from pixelrun.storage.keys import validate_key, validate_prefix
from pixelrun.storage.signing import UrlSigner, upload_signing_path

# Temporary names start with "." so no valid key (see keys.py) can ever name one.
_TMP_PREFIX = ".tmp-"


class LocalFileStorage:
    """FileStorage on a directory; URLs point at the API's ``/v1/files/{key}`` route."""

    def __init__(self, root: Path, public_base_url: str, signer: UrlSigner) -> None:
        self._root = Path(root).resolve()
        self._base_url = public_base_url.rstrip("/")
        self._signer = signer

    @property
    def root(self) -> Path:
        return self._root

    @property
    def signer(self) -> UrlSigner:
        return self._signer

    def path_for(self, key: str) -> Path:
        """The file's path, so the API can serve it with sendfile; refuses keys that escape root."""
        path = self._root.joinpath(*validate_key(key).split("/"))
        # The allowlist already forbids "..", but a symlink planted inside root could still
        # point outside; resolving catches that.
        if not path.resolve().is_relative_to(self._root):
            raise InvalidKeyError(f"storage key escapes the storage root: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> StoredFile:
        writer = self.writer(key, content_type)
        try:
            writer.write(data)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def writer(self, key: str, content_type: str) -> LocalFileWriter:
        """A file written piece by piece (an upload streamed from its request), in place
        only at `commit`: until then readers see the old file or none."""
        path = self.path_for(key)
        derived = content_type_for(key)
        if normalize_content_type(content_type) != derived:
            # The type is derived from the extension when serving, so a mismatch would
            # silently serve a different type than the caller declared.
            raise StorageError(f"content type {content_type!r} does not match key {key!r} ({derived})")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc
        return LocalFileWriter(key, path, derived, os.fdopen(fd, "wb"), tmp_name)

    def open(self, key: str) -> BinaryIO:
        path = self.path_for(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StoredFileNotFoundError(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    def stat(self, key: str) -> StoredFile:
        path = self.path_for(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StoredFileNotFoundError(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc
        if not path.is_file():
            raise StoredFileNotFoundError(key)
        return StoredFile(key=key, size=st.st_size, content_type=content_type_for(key))

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path_for(validate_prefix(prefix)[:-1])
        if not folder.is_dir():
            return 0
        deleted = 0
        try:
            # Bottom-up so each folder is empty by the time it is removed.
            for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
                for name in filenames:
                    os.unlink(os.path.join(dirpath, name))
                    if not name.startswith("."):
                        deleted += 1
                for name in dirnames:
                    sub = os.path.join(dirpath, name)
                    if os.path.islink(sub):
                        os.unlink(sub)  # never follow a link out of the tree
                    else:
                        os.rmdir(sub)
            os.rmdir(folder)
        except OSError as exc:
            raise StorageError(f"cannot delete {prefix!r}: {exc}") from exc
        return deleted

    def url_for(self, key: str, expires_in: int, now: int | None = None) -> str:
        validate_key(key)
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        expires = (int(time.time()) if now is None else now) + expires_in
        signature = self._signer.sign(key, expires)
        return f"{self._base_url}/v1/files/{quote(key, safe='/')}?expires={expires}&signature={signature}"

    def upload_url_for(
        self, key: str, expires_in: int, size: int | None = None, now: int | None = None
    ) -> str:
        # `size` is not signed here: the upload route limits bodies to the upload limit and
        # the confirmation checks the exact size.
        validate_key(key)
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        expires = (int(time.time()) if now is None else now) + expires_in
        signature = self._signer.sign(upload_signing_path(key), expires)
        return f"{self._base_url}/v1/uploads/{quote(key, safe='/')}?expires={expires}&signature={signature}"

    def read(self, key: str, max_bytes: int) -> bytes:
        with self.open(key) as stream:
            data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise StorageError(f"{key!r} is larger than {max_bytes} bytes")
        return data

    def ping(self) -> None:
        # A real write, because a read-only or full disk passes every cheaper check.
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._root, prefix=_TMP_PREFIX) as probe:
                probe.write(b"ping")
        except OSError as exc:
            raise StorageError(f"storage root {self._root} is not writable: {exc}") from exc


class LocalFileWriter:
    """One file being written to a temporary name next to its key's path (`LocalFileStorage.writer`)."""

    def __init__(self, key: str, path: Path, content_type: str, tmp: BinaryIO, tmp_name: str) -> None:
        self.key = key
        self.size = 0
        self._path = path
        self._content_type = content_type
        self._tmp = tmp
        self._tmp_name = tmp_name

    def write(self, data: bytes) -> None:
        try:
            self._tmp.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self.key!r}: {exc}") from exc
        self.size += len(data)

    def commit(self) -> StoredFile:
        try:
            self._tmp.flush()
            os.fsync(self._tmp.fileno())
            self._tmp.close()
            # mkstemp creates 0600; outputs are public once signed, and another process
            # (an API replica under another user) may serve them.
            os.chmod(self._tmp_name, 0o644)
            os.replace(self._tmp_name, self._path)
            _fsync_dir(self._path.parent)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot write {self.key!r}: {exc}") from exc
        return StoredFile(key=self.key, size=self.size, content_type=self._content_type)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._tmp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_name)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some file systems refuse to open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
