"""Output files: the FileStorage interface, the local back end and signed URLs."""

from pixelrun.storage.base import (
    FileStorage,
    InvalidKeyError,
    StorageError,
    StoredFile,
    StoredFileNotFoundError,
)
from pixelrun.storage.content_types import content_type_for
from pixelrun.storage.factory import is_s3_url, storage_from_settings
from pixelrun.storage.keys import validate_key, validate_prefix
from pixelrun.storage.local import LocalFileStorage
from pixelrun.storage.s3 import S3FileStorage, make_s3_client, parse_s3_url
from pixelrun.storage.secret import SecretNotShared, resolve_signing_secret
from pixelrun.storage.signing import UrlSigner, load_or_create_secret

__all__ = [
    "FileStorage",
    "InvalidKeyError",
    "LocalFileStorage",
    "S3FileStorage",
    "SecretNotShared",
    "StorageError",
    "StoredFile",
    "StoredFileNotFoundError",
    "UrlSigner",
    "content_type_for",
    "is_s3_url",
    "load_or_create_secret",
    "make_s3_client",
    "parse_s3_url",
    "resolve_signing_secret",
    "storage_from_settings",
    "validate_key",
    "validate_prefix",
]
