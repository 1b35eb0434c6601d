"""The URL signing secret is shared by every process: one setting, or the store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.storage import SecretNotShared, resolve_signing_secret, storage_from_settings
from pixelrun.storage.secret import SETTING_NAME
from pixelrun.store import NewRun, Store


def _signature(settings: Settings, store: Store) -> str:
    storage = storage_from_settings(
        settings, store.shared_settings, store.shared_settings.deployment_has_runs
    )
    return storage.url_for("runs/r/0.png", 60, now=1_000)  # type: ignore[call-arg]


def test_processes_without_the_setting_share_the_stores_secret(store: Store, tmp_path: Path) -> None:
    # Two "machines": different data directories, one store.
    first = _signature(Settings(data_dir=tmp_path / "a"), store)
    second = _signature(Settings(data_dir=tmp_path / "b"), store)
    assert first == second
    assert not (tmp_path / "a" / "signing.key").exists()


def test_racing_processes_end_up_with_one_secret(store: Store) -> None:
    results: list[bytes] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        results.append(resolve_signing_secret(None, store.shared_settings))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1


def test_the_setting_wins_and_a_process_without_it_refuses(store: Store, tmp_path: Path) -> None:
    configured = Settings(data_dir=tmp_path / "a", signing_secret="x" * 32)
    assert resolve_signing_secret("x" * 32, store.shared_settings) == b"x" * 32
    _signature(configured, store)
    with pytest.raises(SecretNotShared, match=SETTING_NAME):
        _signature(Settings(data_dir=tmp_path / "b"), store)


def test_a_deployment_with_runs_and_no_stored_secret_refuses(store: Store, tmp_path: Path) -> None:
    owner = store.owners.ensure("acme")
    store.runs.create(
        NewRun(owner.id, MODEL_ID, {"prompt": "x", "image_urls": ["https://example.com/a.png"]})
    )
    with pytest.raises(SecretNotShared, match=SETTING_NAME):
        _signature(Settings(data_dir=tmp_path / "new-machine"), store)


def test_a_single_box_secret_file_is_adopted(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "signing.key").write_bytes(b"f" * 32)
    owner = store.owners.ensure("acme")
    store.runs.create(
        NewRun(owner.id, MODEL_ID, {"prompt": "x", "image_urls": ["https://example.com/a.png"]})
    )
    assert (
        resolve_signing_secret(None, store.shared_settings, legacy_file=tmp_path / "a" / "signing.key")
        == b"f" * 32
    )
    # Another machine now reads it from the store.
    assert resolve_signing_secret(None, store.shared_settings, deployment_has_runs=lambda: True) == b"f" * 32


def test_serve_refuses_to_start_and_names_the_setting(store: Store, tmp_path: Path) -> None:
    resolve_signing_secret("y" * 32, store.shared_settings)  # another process uses the setting
    env = {**os.environ, "PIXELRUN_DATABASE_URL": str(store.engine.url.render_as_string(hide_password=False))}
    env.pop("PIXELRUN_SIGNING_SECRET", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelrun.cli",
            "serve",
            "--workers",
            "0",
            "--data-dir",
            str(tmp_path),
            "--port",
            "9",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert SETTING_NAME in result.stderr
    assert "Traceback" not in result.stderr
