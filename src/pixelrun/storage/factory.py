"""Build the configured file storage from `Settings` (API and workers alike)."""

from __future__ import annotations

from pixelrun.config import Settings
from pixelrun.storage.local import LocalFileStorage
from pixelrun.storage.signing import UrlSigner, load_or_create_secret


def storage_from_settings(settings: Settings) -> LocalFileStorage:
    if settings.signing_secret:
        secret = settings.signing_secret.encode()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = load_or_create_secret(settings.data_dir / "signing.key")
    return LocalFileStorage(settings.data_dir / "files", settings.public_base_url, UrlSigner(secret))
