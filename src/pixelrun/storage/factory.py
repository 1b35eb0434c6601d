"""Build the configured file storage from `Settings` (API and workers alike)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.storage.base import FileStorage
from pixelrun.storage.local import LocalFileStorage
from pixelrun.storage.s3 import S3FileStorage, make_s3_client, parse_s3_url
from pixelrun.storage.secret import SharedValues, resolve_signing_secret
from pixelrun.storage.signing import UrlSigner


def is_s3_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith("s3://")


def storage_from_settings(
    settings: Settings,
    shared: SharedValues | None = None,
    deployment_has_runs: Callable[[], bool] = lambda: False,
) -> FileStorage:
    """`shared` is the store's `shared_settings` (the signing secret lives there unless
    PIXELRUN_SIGNING_SECRET is set)."""
    secret = resolve_signing_secret(
        settings.signing_secret,
        shared,
        legacy_file=settings.data_dir / "signing.key",
        deployment_has_runs=deployment_has_runs,
    )
    signer = UrlSigner(secret)
    url = settings.storage_url
    if url is not None and is_s3_url(url):
        bucket, prefix = parse_s3_url(url)
        return S3FileStorage(
            make_s3_client(settings.s3_addressing_style),
            bucket,
            prefix,
            signer=signer,
            public_base_url=settings.public_base_url,
            file_urls=settings.file_urls,
        )
    root = Path(url) if url else settings.data_dir / "files"
    return LocalFileStorage(root, settings.public_base_url, signer)
