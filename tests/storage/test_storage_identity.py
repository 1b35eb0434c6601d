"""Which storage a process uses: a local directory's own id, or the bucket and prefix."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pixelrun.storage import LocalFileStorage, S3FileStorage, UrlSigner, validate_key
from pixelrun.storage.identity import MARKER, elsewhere, mismatch, storage_identity
from pixelrun.store import Store

BASE_URL = "http://127.0.0.1:8000"


def local(root: Path) -> LocalFileStorage:
    return LocalFileStorage(root, BASE_URL, UrlSigner(b"k" * 32))


def test_processes_on_one_directory_agree_and_another_directory_differs(tmp_path: Path) -> None:
    first = storage_identity(local(tmp_path / "a"))
    assert first == storage_identity(local(tmp_path / "a"))  # the marker file is read back
    assert first.identity.startswith("local:") and str(tmp_path / "a") in first.description
    assert storage_identity(local(tmp_path / "b")).identity != first.identity
    with pytest.raises(ValueError):
        validate_key(MARKER)  # no storage key can overwrite or list it


def test_racing_processes_end_up_with_one_id(tmp_path: Path) -> None:
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(storage_identity(local(tmp_path)).identity))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1


def test_a_bucket_is_named_by_its_bucket_and_prefix() -> None:
    storage = S3FileStorage(
        None, "outputs", "pixelrun", signer=UrlSigner(b"k" * 32), public_base_url=BASE_URL
    )
    assert storage_identity(storage).identity == "s3://outputs/pixelrun"


def test_a_mismatch_names_the_setting_and_the_other_storage(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'pixelrun.db'}")
    store.migrate()
    mine, theirs = local(tmp_path / "mine"), local(tmp_path / "theirs")
    try:
        assert mismatch(mine, store.storage_identities) is None
        assert elsewhere(mine, store.storage_identities) is None
        other = storage_identity(theirs)
        store.storage_identities.report(other.identity, other.description, "host-b")
        problem = mismatch(mine, store.storage_identities)
        assert problem is not None and problem.startswith("PIXELRUN_STORAGE_URL differs")
        assert str(tmp_path / "theirs") in problem and "host-b" in problem
        message = elsewhere(mine, store.storage_identities)
        assert message is not None and "another machine's disk" in message
        assert str(tmp_path) not in message  # clients are not told the servers' paths
        # The same directory is no mismatch.
        assert mismatch(local(tmp_path / "theirs"), store.storage_identities) is None
    finally:
        store.close()
