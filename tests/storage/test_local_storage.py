import os
import stat
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pixelrun.storage import (
    FileStorage,
    InvalidKeyError,
    LocalFileStorage,
    StorageError,
    StoredFile,
    StoredFileNotFoundError,
    UrlSigner,
)
from pixelrun.storage import local as local_module

KEY = "runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/0.png"


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob(".tmp-*")]


def test_satisfies_the_protocol(storage: LocalFileStorage) -> None:
    assert isinstance(storage, FileStorage)


def test_put_then_read_back(storage: LocalFileStorage, root: Path) -> None:
    stored = storage.put(KEY, b"\x89PNG data", "image/png")
    assert stored == StoredFile(key=KEY, size=9, content_type="image/png")
    assert storage.exists(KEY)
    assert storage.stat(KEY) == stored
    with storage.open(KEY) as f:
        assert f.read() == b"\x89PNG data"
    assert (root / KEY).read_bytes() == b"\x89PNG data"
    assert stat.S_IMODE((root / KEY).stat().st_mode) == 0o644


def test_put_overwrites(storage: LocalFileStorage) -> None:
    storage.put(KEY, b"old", "image/png")
    storage.put(KEY, b"new!", "image/png")
    assert storage.stat(KEY).size == 4
    with storage.open(KEY) as f:
        assert f.read() == b"new!"


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    storage: LocalFileStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.put(KEY, b"old", "image/png")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(local_module.os, "replace", crash)
    with pytest.raises(StorageError):
        storage.put(KEY, b"new" * 1000, "image/png")
    monkeypatch.undo()
    with storage.open(KEY) as f:
        assert f.read() == b"old"
    assert _leftovers(root) == []


def test_readers_never_see_a_partial_file(storage: LocalFileStorage, root: Path) -> None:
    a, b = b"a" * 1_000_000, b"b" * 2_000_000
    storage.put(KEY, a, "image/png")
    stop = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        while not stop.is_set():
            seen.add((root / KEY).read_bytes()[:1] + str(len((root / KEY).read_bytes())).encode())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            storage.put(KEY, b if i % 2 == 0 else a, "image/png")
    finally:
        stop.set()
        reader.join()
    # Every read saw one complete version; a torn write would show another length.
    assert {s.lstrip(b"ab") for s in seen} <= {b"1000000", b"2000000"}
    assert _leftovers(root) == []


def test_content_type_must_match_the_extension(storage: LocalFileStorage) -> None:
    with pytest.raises(StorageError):
        storage.put(KEY, b"x", "text/html")
    assert not storage.exists(KEY)
    assert storage.put(KEY, b"x", "IMAGE/PNG").content_type == "image/png"


def test_every_method_refuses_bad_keys(storage: LocalFileStorage, root: Path, bad_key: str) -> None:
    with pytest.raises(InvalidKeyError):
        storage.put(bad_key, b"x", "application/octet-stream")
    for call in (storage.open, storage.stat, storage.exists, storage.path_for):
        with pytest.raises(InvalidKeyError):
            call(bad_key)
    with pytest.raises(InvalidKeyError):
        storage.url_for(bad_key, 60)
    assert not root.exists() or list(root.rglob("*")) == []


def test_symlink_out_of_root_is_refused(storage: LocalFileStorage, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "runs").symlink_to(outside)
    with pytest.raises(InvalidKeyError):
        storage.put(KEY, b"x", "image/png")
    with pytest.raises(InvalidKeyError):
        storage.delete_prefix("runs/")
    assert list(outside.iterdir()) == []


def test_missing_file(storage: LocalFileStorage) -> None:
    assert not storage.exists(KEY)
    with pytest.raises(StoredFileNotFoundError):
        storage.open(KEY)
    with pytest.raises(StoredFileNotFoundError):
        storage.stat(KEY)
    storage.put("runs/x/0.png", b"x", "image/png")
    with pytest.raises(StoredFileNotFoundError):  # a folder is not a file
        storage.stat("runs/x")
    with pytest.raises(StoredFileNotFoundError):
        storage.open("runs/x")


def test_delete_prefix_removes_one_folder_only(storage: LocalFileStorage) -> None:
    storage.put("runs/a/0.png", b"0", "image/png")
    storage.put("runs/a/1.png", b"1", "image/png")
    storage.put("runs/a/sub/2.png", b"2", "image/png")
    storage.put("runs/ab/0.png", b"keep", "image/png")
    assert storage.delete_prefix("runs/a/") == 3
    assert not storage.exists("runs/a/0.png")
    assert storage.exists("runs/ab/0.png")
    assert storage.delete_prefix("runs/a/") == 0
    with pytest.raises(InvalidKeyError):
        storage.delete_prefix("runs/a")  # no trailing slash: would be ambiguous on S3


def test_url_for_is_signed_and_verifiable(storage: LocalFileStorage, signer: UrlSigner) -> None:
    url = storage.url_for(KEY, 3600, now=1_750_000_000)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8000"
    assert parts.path == f"/v1/files/{KEY}"
    query = parse_qs(parts.query)
    assert query["expires"] == ["1750003600"]
    (signature,) = query["signature"]
    assert signer.verify(KEY, query["expires"][0], signature, now=1_750_000_000)
    assert not signer.verify(KEY, query["expires"][0], signature, now=1_750_003_600)


def test_url_for_rejects_non_positive_lifetime(storage: LocalFileStorage) -> None:
    with pytest.raises(ValueError):
        storage.url_for(KEY, 0)


def test_ping(storage: LocalFileStorage, root: Path) -> None:
    storage.ping()
    assert list(root.iterdir()) == []  # the probe cleans up after itself


def test_ping_fails_when_root_is_unusable(tmp_path: Path, signer: UrlSigner) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError):
        LocalFileStorage(blocker, "http://127.0.0.1", signer).ping()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_ping_fails_when_read_only(root: Path, storage: LocalFileStorage) -> None:
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(StorageError):
            storage.ping()
    finally:
        root.chmod(0o700)
