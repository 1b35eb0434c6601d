"""Output files: the FileStorage interface, the local back end and signed URLs."""

from pixelrun.storage.base import (
    FileStorage,
    InvalidKeyError,
    StorageError,
    StoredFile,
    StoredFileNotFoundError,
)
from pixelrun.storage.content_types import content_type_for
from pixelrun.storage.factory import storage_from_settings
from pixelrun.storage.keys import validate_key, validate_prefix
from pixelrun.storage.local import LocalFileStorage
from pixelrun.storage.signing import UrlSigner, load_or_create_secret

__all__ = [
    "FileStorage",
    "InvalidKeyError",
    "LocalFileStorage",
    "StorageError",
    "StoredFile",
    "StoredFileNotFoundError",
    "UrlSigner",
    "content_type_for",
    "load_or_create_secret",
    "storage_from_settings",
    "validate_key",
    "validate_prefix",
]
