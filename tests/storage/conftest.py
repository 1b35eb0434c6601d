from pathlib import Path

import pytest

from pixelrun.storage import LocalFileStorage, UrlSigner

BASE_URL = "http://127.0.0.1:8000"
NOW = 1_750_000_000


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(b"k" * 32)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def storage(root: Path, signer: UrlSigner) -> LocalFileStorage:
    # A trailing slash on the base URL must not produce "//v1".
    return LocalFileStorage(root, BASE_URL + "/", signer)


# Keys that must never reach the file system: traversal, absolute, Windows forms, NUL,
# empty segments, hidden names, encodings and characters outside the allowlist.
BAD_KEYS = [
    "",
    "/etc/passwd",
    "../secret",
    "runs/../../etc/passwd",
    "runs/..",
    "runs/./0.png",
    ".",
    "runs\\..\\x.png",
    "C:\\x.png",
    "runs/a\x00.png",
    "runs//0.png",
    "runs/0.png/",
    "runs/.hidden",
    "runs/%2e%2e/x",
    "runs/a b.png",
    "runs/\u00e9.png",
    "runs/a\n.png",
    "a" * 600,
]


@pytest.fixture(params=BAD_KEYS, ids=repr)
def bad_key(request: pytest.FixtureRequest) -> str:
    return request.param
