"""The workers' LoRA disk cache (docs/loras.md#the-disk-cache): a byte limit with least
recently used eviction, files checked before they enter, deleted assets' files removed.
LoRAs here are assets read from local file storage (no network, no model)."""

from __future__ import annotations

import json
import os
import struct
import time
from datetime import timedelta
from pathlib import Path

import pytest

from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.runs import asset_url, utc_now
from pixelrun.storage import LocalFileStorage
from pixelrun.store import Owner, Store
from pixelrun.worker.assets import StoredAssets
from pixelrun.worker.lora_files import LoraFetchError, LoraFiles, safetensors_problem

SIZE = 4096  # bytes of tensor data per file


def safetensors_bytes(seed: int, floats: int = SIZE // 4) -> bytes:
    header = json.dumps(
        {"lora.weight": {"dtype": "F32", "shape": [floats], "data_offsets": [0, 4 * floats]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes([seed % 256]) * (4 * floats)


def lora_asset(store: Store, storage: LocalFileStorage, owner: Owner, data: bytes) -> str:
    asset_id = store.assets.new_id()
    key = f"assets/{asset_id}/asset.safetensors"
    storage.put(key, data, "application/octet-stream")
    store.assets.create(
        asset_id,
        owner.id,
        "a.safetensors",
        "application/octet-stream",
        len(data),
        key,
        utc_now() + timedelta(hours=1),
    )
    assert store.assets.confirm(asset_id, owner.id, None, None) is not None
    return asset_url(asset_id)


@pytest.fixture
def assets(store: Store, storage: LocalFileStorage, owner: Owner) -> StoredAssets:
    return StoredAssets(store, storage, owner.id)


def cache(tmp_path: Path, cache_bytes: int) -> LoraFiles:
    client = OutboundClient(NetworkPolicy(), connect_timeout=1, total_timeout=2)
    return LoraFiles(tmp_path / "loras", client, max_bytes=1_000_000, cache_bytes=cache_bytes)


def cached_files(files: LoraFiles) -> set[str]:
    return {path.name for path in files.directory.glob("*.safetensors")}


def age(path: Path, seconds_ago: float) -> None:
    then = time.time() - seconds_ago
    os.utime(path, (then, then))


def test_the_least_recently_used_files_go_past_the_byte_limit(
    store: Store, storage: LocalFileStorage, owner: Owner, assets: StoredAssets, tmp_path: Path
) -> None:
    file_bytes = len(safetensors_bytes(1))
    files = cache(tmp_path, cache_bytes=2 * file_bytes + file_bytes // 2)  # room for two
    a, b, c, d = (lora_asset(store, storage, owner, safetensors_bytes(seed)) for seed in range(4))
    first, second = files.get(0, a, assets), files.get(0, b, assets)
    assert files.evictions == 0 and files.downloads == 2
    # `a` was used longer ago than `b`, both longer ago than the in-use grace.
    age(first.path, 3000)
    age(second.path, 2000)
    # Using `a` again is a cache hit that makes it the most recently used.
    assert files.get(0, a, assets).path == first.path and files.downloads == 2
    assert first.path.stat().st_mtime > second.path.stat().st_mtime
    age(first.path, 1000)
    third = files.get(0, c, assets)
    assert files.evictions == 1
    assert cached_files(files) == {first.path.name, third.path.name}  # `b` went, not `a`
    assert sum(p.stat().st_size for p in files.directory.glob("*.safetensors")) <= files.cache_bytes
    # An evicted LoRA is read again when a run names it; now `a` is the least recently used.
    assert files.get(0, b, assets).path == second.path and files.downloads == 4
    assert files.evictions == 2 and cached_files(files) == {second.path.name, third.path.name}
    # Files used within the grace are kept even past the limit (a worker may be loading them).
    files.get(0, d, assets)
    assert len(cached_files(files)) == 3 and files.evictions == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04 a zip, not a LoRA" * 8, "header length runs past"),
        (b"<html><body>404 Not Found</body></html>", "header length runs past"),
        (safetensors_bytes(1)[:-10], "lies outside the file"),  # a truncated download
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", 2) + b"{}", "holds no tensors"),
    ],
)
def test_a_bad_file_is_refused_before_it_enters_the_cache(
    store: Store,
    storage: LocalFileStorage,
    owner: Owner,
    assets: StoredAssets,
    tmp_path: Path,
    data: bytes,
    reason: str,
) -> None:
    assert safetensors_problem(safetensors_bytes(1)) is None
    files = cache(tmp_path, cache_bytes=10**9)
    url = lora_asset(store, storage, owner, data)
    with pytest.raises(LoraFetchError) as refused:
        files.get(1, url, assets)
    assert "loras[1]" in str(refused.value) and "not a readable .safetensors file" in str(refused.value)
    assert reason in str(refused.value)
    assert [p for p in files.directory.rglob("*") if p.is_file()] == []
    assert files.cached(url) is None


def test_a_deleted_assets_file_leaves_the_disk(
    store: Store, storage: LocalFileStorage, owner: Owner, assets: StoredAssets, tmp_path: Path
) -> None:
    files = cache(tmp_path, cache_bytes=10**9)
    swept, named, kept = (lora_asset(store, storage, owner, safetensors_bytes(seed)) for seed in (1, 2, 3))
    swept_file, named_file, kept_file = (files.get(0, url, assets).path for url in (swept, named, kept))
    store.assets.delete(swept.removeprefix("asset://"))
    store.assets.delete(named.removeprefix("asset://"))
    # A run naming a deleted asset fails, and its file goes at once.
    with pytest.raises(LoraFetchError, match="does not exist"):
        files.get(0, named, assets)
    assert not named_file.exists()
    # The sweep finds the other one (one query for every cached asset).
    assert files.sweep_deleted_assets(store) == 1
    assert not swept_file.exists() and kept_file.exists()
    assert files.sweep_deleted_assets(store) == 0
    assert files.get(0, kept, assets).path == kept_file
