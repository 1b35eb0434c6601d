"""What the sync and async clients share: configuration, retries, errors, image inputs."""

from __future__ import annotations

import base64
import os
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pixelrun.client.errors import APIError, RunCanceledError, RunFailedError, error_from_response
from pixelrun.client.models import Run

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "alibaba/qwen-image-edit-2511"
DEFAULT_TIMEOUT = 60.0
# A stream sends a keep-alive at least every 15 s; a read this long without one is a dead link.
STREAM_READ_TIMEOUT = 45.0
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str | None
    timeout: float
    max_retries: int

    @classmethod
    def resolve(
        cls, base_url: str | None, api_key: str | None, timeout: float, max_retries: int
    ) -> ClientConfig:
        url = base_url or os.environ.get("PIXELRUN_BASE_URL") or DEFAULT_BASE_URL
        key = api_key or os.environ.get("PIXELRUN_API_KEY") or None
        return cls(url.rstrip("/"), key, timeout, max_retries)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"


def backoff_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds before retry number `attempt` (0-based): the server's Retry-After when it
    gave one (capped at 60 s), else exponential from 0.5 s with jitter, at most 8 s."""
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), 60.0)
        except ValueError:
            pass
    return min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)


def should_retry_status(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def raise_for_response(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise error_from_response(response.status_code, body, dict(response.headers))


def new_idempotency_key() -> str:
    return f"pxsdk-{uuid.uuid4()}"


def prefer_header(wait: bool | int | None) -> dict[str, str]:
    if wait is None or wait is False:
        return {}
    if wait is True:
        return {"Prefer": "wait"}
    return {"Prefer": f"wait={int(wait)}"}


def create_timeout(wait: bool | int | None, timeout: float) -> float:
    if wait is None or wait is False:
        return timeout
    return (60 if wait is True else int(wait)) + timeout


def raise_for_run(run: Run) -> Run:
    """The run when it succeeded; a typed error when it failed or was canceled."""
    if run.status_code == "failed":
        raise RunFailedError(run)
    if run.status_code == "canceled":
        raise RunCanceledError(run)
    return run


def uploads_unsupported(error: APIError) -> bool:
    """An older server without the upload routes (docs/uploads.md)."""
    return error.status_code in (404, 405) and error.code in ("NOT_FOUND", "ERROR")


# Image inputs of `edit`: URLs pass through; files, bytes and PIL images are uploaded.

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
    (b"BM", "image/bmp", "bmp"),
    (b"II*\x00", "image/tiff", "tiff"),
    (b"MM\x00*", "image/tiff", "tiff"),
]


@dataclass(frozen=True)
class LocalImage:
    filename: str
    mime_type: str
    data: bytes

    def data_uri(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode()}"


def sniff_mime(data: bytes) -> tuple[str, str]:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    for magic, mime, ext in _MAGIC:
        if data.startswith(magic):
            return mime, ext
    return "application/octet-stream", "bin"


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "data:", "asset://"))


def local_image(source: Any, filename: str | None = None, mime_type: str | None = None) -> LocalImage:
    """Bytes of a path, `bytes` or a PIL image, with a name and a sniffed content type."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = path.read_bytes()
        filename = filename or path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif _is_pil_image(source):
        import io

        buffer = io.BytesIO()
        source.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise TypeError(f"an image must be a URL, a path, bytes or a PIL image, not {type(source).__name__}")
    sniffed, ext = sniff_mime(data)
    return LocalImage(filename or f"image.{ext}", mime_type or sniffed, data)


def _is_pil_image(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


def needs_upload(source: Any) -> bool:
    return not (isinstance(source, str) and is_url(source))
