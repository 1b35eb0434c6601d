"""The image, built once per test session from the repository's Dockerfile (CPU torch)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .podman import build_image, file_lock, missing_setup

SKIP_CONTAINERS = os.environ.get("PIXELRUN_TEST_SKIP_CONTAINERS") == "1"


@pytest.fixture(scope="session")
def pixelrun_image(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """The image's tag. pytest-xdist workers share one build: the first builds it under a
    file lock in the session's temp root, the others wait and reuse it."""
    if SKIP_CONTAINERS:
        pytest.skip("PIXELRUN_TEST_SKIP_CONTAINERS=1")
    problem = missing_setup()
    if problem:
        pytest.fail(problem, pytrace=False)
    root = tmp_path_factory.getbasetemp()
    shared: Path = root if worker_id == "master" else root.parent
    with file_lock(shared / "pixelrun-image.lock"):
        tag, _seconds = build_image(shared / "pixelrun-image-build.log")
    return tag
