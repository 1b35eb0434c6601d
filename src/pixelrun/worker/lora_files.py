"""A run's LoRA files: fetched under the address rules, size-capped, kept on disk by content hash.

Layout of the cache directory (shared by the workers of one data dir; every write is an
atomic rename, so workers never see half a file):

    <sha256>.safetensors      the bytes, named by their hash
    urls/<sha256 of the URL>  the hash of the bytes that URL gave

A URL seen before is not fetched again: LoRA URLs are expected to be immutable (a Hub
`resolve/<commit>` URL; an asset never changes). Two URLs with the same bytes share one
file and one adapter in memory. An `asset://` URL is read from file storage, never over
the network, and its owner is checked on every use, cached or not.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pixelrun.engines.engine import LoraFile
from pixelrun.net import OutboundClient, OutboundError
from pixelrun.runs import is_asset_url
from pixelrun.worker.assets import AssetUnavailable, StoredAssets

#: Any content type: servers label .safetensors files inconsistently; the bytes are checked on load.
ANY_CONTENT_TYPE = ""


class LoraFetchError(Exception):
    """One LoRA could not be fetched; the message names it (`loras[i]`) and says why."""

    def __init__(self, index: int, url: str, reason: str) -> None:
        super().__init__(f"loras[{index}] ({url}): {reason}")
        self.index = index
        self.reason = reason


def _atomic_write(target: Path, data: bytes) -> None:
    handle, staging = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


class LoraFiles:
    def __init__(self, directory: Path, client: OutboundClient, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.client = client
        self.max_bytes = max_bytes
        self.downloads = 0
        (self.directory / "urls").mkdir(parents=True, exist_ok=True)

    def _url_entry(self, url: str) -> Path:
        return self.directory / "urls" / hashlib.sha256(url.encode()).hexdigest()

    def _file(self, digest: str) -> Path:
        return self.directory / f"{digest}.safetensors"

    def cached(self, url: str) -> LoraFile | None:
        entry = self._url_entry(url)
        try:
            digest = entry.read_text().strip()
        except FileNotFoundError:
            return None
        path = self._file(digest)
        return LoraFile(path, digest, url) if path.is_file() else None

    def get(self, index: int, url: str, assets: StoredAssets | None = None) -> LoraFile:
        """The local file for `url`: from the cache, else fetched (or read from storage for an
        asset of `assets`' owner). Raises `LoraFetchError`."""
        try:
            if is_asset_url(url):
                if assets is None:
                    raise AssetUnavailable("asset URLs are not available here")
                assets.lookup(url)  # the owner check, on a cache hit too
            found = self.cached(url)
            if found is not None:
                return found
            if is_asset_url(url):
                data = assets.read(url)  # type: ignore[union-attr]
            else:
                data = self.client.fetch(
                    url, max_bytes=self.max_bytes, allowed_content_types=ANY_CONTENT_TYPE
                ).content
        except (OutboundError, AssetUnavailable) as error:
            raise LoraFetchError(index, url, str(error)) from error
        if len(data) > self.max_bytes:
            raise LoraFetchError(index, url, f"{len(data)} bytes, over the {self.max_bytes}-byte LoRA limit")
        self.downloads += 1
        if not data:
            raise LoraFetchError(index, url, "the file is empty")
        digest = hashlib.sha256(data).hexdigest()
        path = self._file(digest)
        if not path.is_file():
            _atomic_write(path, data)
        _atomic_write(self._url_entry(url), digest.encode())
        return LoraFile(path, digest, url)

    def get_all(self, urls: list[str], assets: StoredAssets | None = None) -> list[LoraFile]:
        return [self.get(index, url, assets) for index, url in enumerate(urls)]
