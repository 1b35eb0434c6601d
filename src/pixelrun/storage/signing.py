"""Signed, expiring file URLs (``?expires=<unix>&signature=<sig>``) and their secret.

The API checks the signature instead of a bearer key, so output URLs can be handed to
browsers and other services.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

from pixelrun.storage.base import StorageError

SECRET_BYTES = 32
# 24 of the 32 HMAC bytes: 192 bits is far beyond guessing and keeps URLs short.
_SIGNATURE_BYTES = 24
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{32}")
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")
# Domain separation: this key must never produce a MAC that is valid in another context.
_CONTEXT = b"pixelrun-file-url-v1\n"


def upload_signing_path(key: str) -> str:
    """What an upload (PUT) URL signs: never equal to a key (":" is not allowed in keys), so
    a download link can never be turned into an upload link or back."""
    return "PUT:" + key


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("URL signing secret must be at least 16 bytes")
        self._secret = bytes(secret)

    def sign(self, path: str, expires_at: int) -> str:
        """Signature over ``path`` (the storage key) and the expiry, url-safe base64 without padding."""
        if not isinstance(expires_at, int) or isinstance(expires_at, bool) or expires_at < 0:
            raise ValueError("expires_at must be a non-negative int")
        return self._mac(path, str(expires_at))

    def verify(self, path: str, expires: int | str, signature: str, now: int | None = None) -> bool:
        """True only for an unexpired, untampered (path, expires) pair. Never raises on junk."""
        if isinstance(expires, bool):
            return False
        if isinstance(expires, int):
            expires_text = str(expires)
        elif isinstance(expires, str) and _EXPIRES_RE.fullmatch(expires):
            expires_text = expires
        else:
            return False
        if not isinstance(path, str) or not isinstance(signature, str):
            return False
        if not _SIGNATURE_RE.fullmatch(signature):
            return False
        try:
            expected = self._mac(path, str(int(expires_text)))
        except UnicodeEncodeError:  # lone surrogates in a path cannot have been signed
            return False
        # Compare before the expiry check so timing does not depend on which part failed.
        valid = hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))
        current = int(time.time()) if now is None else now
        return valid and current < int(expires_text)

    def _mac(self, path: str, expires_text: str) -> str:
        # expires first and "\n" between: digits contain no "\n", so the split is unambiguous.
        message = _CONTEXT + expires_text.encode("ascii") + b"\n" + path.encode("utf-8")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def load_or_create_secret(path: Path) -> bytes:
    """Read the 32-byte secret at ``path``, creating it (mode 0600) on first use.

    The file is written under a temporary name and hard-linked into place: ``link`` never
    overwrites, so when two processes race, one wins and both read the winner's complete
    file, and URLs signed before a restart stay valid after it.
    """
    path = Path(path)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        raise StorageError(f"cannot create URL signing secret at {path}: {exc}") from exc
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot read URL signing secret at {path}: {exc}") from exc
    if len(data) != SECRET_BYTES:
        raise StorageError(f"URL signing secret at {path} is {len(data)} bytes, expected {SECRET_BYTES}")
    return data
