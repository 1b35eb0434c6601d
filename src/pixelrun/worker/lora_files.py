"""A run's LoRA files: fetched under the address rules, size-capped, checked, kept on disk by
content hash within a byte budget (docs/loras.md#the-disk-cache).

Layout of the cache directory (shared by the workers of one data dir; every write is an
atomic rename, so workers never see half a file):

    <sha256>.safetensors      the bytes, named by their hash; mtime = last use
    urls/<sha256 of the URL>  the hash of the bytes that URL gave
    assets/<asset id>         the hash of the bytes that asset gave

A URL seen before is not fetched again: LoRA URLs are expected to be immutable (a Hub
`resolve/<commit>` URL; an asset never changes). Two URLs with the same bytes share one
file and one adapter in memory. An `asset://` URL is read from file storage, never over
the network, and its owner is checked on every use, cached or not.

Bounded: a file enters the cache only after its safetensors header parsed and described
tensors inside the file (no HTML error page, no truncated download), and the cache keeps
at most `cache_bytes` (PIXELRUN_LORA_CACHE_BYTES), evicting the least recently used files
after each new one; a file used in the last `IN_USE_SECONDS` is never evicted (a worker
beside this one may be loading it). A deleted asset's file leaves the disk: at once when
a run names the asset again, and otherwise at the next `sweep_deleted_assets`, which the
worker runs between runs every `SWEEP_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Final

from pixelrun.engines.engine import LoraFile
from pixelrun.net import OutboundClient, OutboundError
from pixelrun.runs import is_asset_url, resolve_asset_url
from pixelrun.store import Store
from pixelrun.worker.assets import AssetUnavailable, StoredAssets

log = logging.getLogger(__name__)

#: Any content type: servers label .safetensors files inconsistently; the bytes are checked.
ANY_CONTENT_TYPE = ""
#: A file used this recently is not evicted, whatever the budget: it may be loading.
IN_USE_SECONDS: Final = 300.0
#: How often a worker looks for cached files of deleted assets (between runs).
SWEEP_SECONDS: Final = 60.0
#: The safetensors header is JSON of at most this many bytes (the format's own limit).
MAX_HEADER_BYTES: Final = 100 * 1024 * 1024


class LoraFetchError(Exception):
    """One LoRA could not be fetched; the message names it (`loras[i]`) and says why."""

    def __init__(self, index: int, url: str, reason: str) -> None:
        super().__init__(f"loras[{index}] ({url}): {reason}")
        self.index = index
        self.reason = reason


def safetensors_problem(data: bytes) -> str | None:
    """Why `data` is not a safetensors file, or None: an 8-byte little-endian header length,
    a JSON object header, and every tensor's byte range inside the data that follows."""
    if len(data) < 8:
        return "shorter than a safetensors header"
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(len(data) - 8, MAX_HEADER_BYTES):
        return "its header length runs past the end of the file"
    try:
        header = json.loads(data[8 : 8 + length])
    except (ValueError, UnicodeDecodeError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    body = len(data) - 8 - length
    tensors = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            return f"tensor {name[:80]!r} lies outside the file"
        tensors += 1
    if not tensors:
        return "it holds no tensors"
    return None


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
    def __init__(
        self, directory: Path, client: OutboundClient, max_bytes: int, cache_bytes: int = 20 * 1024**3
    ) -> None:
        self.directory = Path(directory)
        self.client = client
        self.max_bytes = max_bytes
        self.cache_bytes = cache_bytes
        self.downloads = 0
        self.evictions = 0
        self._last_sweep = 0.0
        (self.directory / "urls").mkdir(parents=True, exist_ok=True)
        (self.directory / "assets").mkdir(parents=True, exist_ok=True)

    def _url_entry(self, url: str) -> Path:
        return self.directory / "urls" / hashlib.sha256(url.encode()).hexdigest()

    def _asset_entry(self, asset_id: str) -> Path:
        return self.directory / "assets" / asset_id

    def _file(self, digest: str) -> Path:
        return self.directory / f"{digest}.safetensors"

    def cached(self, url: str) -> LoraFile | None:
        entry = self._url_entry(url)
        try:
            digest = entry.read_text().strip()
        except FileNotFoundError:
            return None
        path = self._file(digest)
        try:
            os.utime(path)  # the last use, for eviction
        except FileNotFoundError:
            return None
        return LoraFile(path, digest, url)

    def get(self, index: int, url: str, assets: StoredAssets | None = None) -> LoraFile:
        """The local file for `url`: from the cache, else fetched (or read from storage for an
        asset of `assets`' owner), checked and cached. Raises `LoraFetchError`."""
        try:
            if is_asset_url(url):
                if assets is None:
                    raise AssetUnavailable("asset URLs are not available here")
                try:
                    assets.lookup(url)  # the owner check, on a cache hit too
                except AssetUnavailable:
                    self.forget_asset(url)
                    raise
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
        problem = safetensors_problem(data)
        if problem is not None:
            raise LoraFetchError(index, url, f"not a readable .safetensors file: {problem}")
        digest = hashlib.sha256(data).hexdigest()
        path = self._file(digest)
        if path.is_file():
            os.utime(path)
        else:
            _atomic_write(path, data)
        _atomic_write(self._url_entry(url), digest.encode())
        asset_id = resolve_asset_url(url)
        if asset_id is not None:
            _atomic_write(self._asset_entry(asset_id), digest.encode())
        self.evict(keep=path)
        return LoraFile(path, digest, url)

    def get_all(self, urls: list[str], assets: StoredAssets | None = None) -> list[LoraFile]:
        return [self.get(index, url, assets) for index, url in enumerate(urls)]

    def evict(self, keep: Path | None = None, now: float | None = None) -> int:
        """Delete least recently used files until the cache holds at most `cache_bytes`
        (files used in the last `IN_USE_SECONDS` and `keep` excepted); how many went."""
        now = time.time() if now is None else now
        files = []
        for path in self.directory.glob("*.safetensors"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # another worker evicted it
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        evicted = 0
        for used, size, path in sorted(files, key=lambda item: item[0]):
            if total <= self.cache_bytes:
                break
            if path == keep or now - used < IN_USE_SECONDS:
                continue
            path.unlink(missing_ok=True)
            total -= size
            evicted += 1
        if evicted:
            self.evictions += evicted
            self._drop_dangling_entries()
            log.info("LoRA cache: evicted %d least recently used file(s), %d bytes kept", evicted, total)
        return evicted

    def _drop_dangling_entries(self) -> None:
        """URL and asset entries whose file was evicted (so they do not pile up either)."""
        for folder in ("urls", "assets"):
            for entry in (self.directory / folder).iterdir():
                try:
                    digest = entry.read_text().strip()
                except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
                    continue
                if not self._file(digest).is_file():
                    entry.unlink(missing_ok=True)

    def forget_asset(self, url: str) -> None:
        """Delete the cached file of an asset that no longer exists (deleted, expired)."""
        asset_id = resolve_asset_url(url)
        if asset_id is not None:
            self._forget(asset_id)

    def _forget(self, asset_id: str) -> None:
        entry = self._asset_entry(asset_id)
        try:
            digest = entry.read_text().strip()
        except FileNotFoundError:
            return
        self._file(digest).unlink(missing_ok=True)
        self._url_entry(f"asset://{asset_id}").unlink(missing_ok=True)
        entry.unlink(missing_ok=True)
        log.info("LoRA cache: deleted the file of asset %s (the asset is gone)", asset_id)

    def sweep_deleted_assets(self, store: Store) -> int:
        """Delete the cached files of assets no longer in the store (one query); how many."""
        cached = [
            entry.name for entry in (self.directory / "assets").iterdir() if not entry.name.startswith(".")
        ]
        if not cached:
            return 0
        existing = store.assets.existing_ids(cached)
        gone = [asset_id for asset_id in cached if asset_id not in existing]
        for asset_id in gone:
            self._forget(asset_id)
        return len(gone)

    def sweep_if_due(self, store: Store) -> None:
        """`sweep_deleted_assets`, at most every `SWEEP_SECONDS` (for the worker's loop)."""
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = now
            try:
                self.sweep_deleted_assets(store)
            except OSError as exc:  # the disk, not the store: the worker carries on
                log.warning("LoRA cache: the sweep of deleted assets failed: %s", exc)
