"""Content type of a stored file, derived from its key's extension.

Deriving it (rather than keeping a sidecar) means there is no second file that a crash
could leave out of step with the first; a fixed table rather than ``mimetypes`` keeps the
answer independent of the host's /etc/mime.types.
"""

from __future__ import annotations

DEFAULT_CONTENT_TYPE = "application/octet-stream"

_BY_EXTENSION: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "tif": "image/tiff",
    "json": "application/json",
    "txt": "text/plain",
}


def content_type_for(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if "." not in name:
        return DEFAULT_CONTENT_TYPE
    return _BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower(), DEFAULT_CONTENT_TYPE)


def normalize_content_type(content_type: str) -> str:
    """``"Image/PNG; charset=x"`` -> ``"image/png"``, for comparing declared and derived types."""
    return content_type.split(";", 1)[0].strip().lower()
