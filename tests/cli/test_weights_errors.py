"""Weights that cannot be loaded, as a new user meets them: one line, in seconds, no traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

LIMIT_SECONDS = 10.0


def pixelrun(*args: str, cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pixelrun.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HOME": str(cwd / "hf-home"), **env},
    )
    return done, time.monotonic() - started


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.new("RGB", (64, 48), (10, 120, 200)).save(path)
    return path


def assert_one_line_error(done: subprocess.CompletedProcess[str], elapsed: float, *words: str) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert elapsed < LIMIT_SECONDS, f"{elapsed:.1f} s"
    return errors[0]


def test_a_missing_directory(tmp_path: Path, picture: Path) -> None:
    done, elapsed = pixelrun(
        "edit", "-i", str(picture), "-p", "x", "--weights", "/nonexistent/dir", cwd=tmp_path
    )
    assert_one_line_error(done, elapsed, "/nonexistent/dir", "no such directory")
    assert done.stderr.count("\n") == 1  # nothing but that line


def test_a_partial_checkpoint_names_what_is_missing(tmp_path: Path, picture: Path, tiny_dir: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(tiny_dir, partial)
    shutil.rmtree(partial / "tokenizer")
    (partial / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    done, elapsed = pixelrun("edit", "-i", str(picture), "-p", "x", "--weights", str(partial), cwd=tmp_path)
    assert_one_line_error(done, elapsed, "not a complete checkpoint", "tokenizer/ missing", "transformer/")


def test_an_unknown_hub_id_with_the_hub_offline(tmp_path: Path, picture: Path) -> None:
    done, elapsed = pixelrun(
        "edit",
        "-i",
        str(picture),
        "-p",
        "x",
        "--weights",
        "nobody/no-such-model",
        cwd=tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert_one_line_error(
        done, elapsed, "nobody/no-such-model", "HF_HUB_OFFLINE", "pixelrun weights download"
    )


def test_a_hub_id_with_the_hub_out_of_reach(tmp_path: Path, picture: Path) -> None:
    # No HF_HUB_OFFLINE: the short connectivity check finds out, instead of a minute of retries.
    done, elapsed = pixelrun(
        "edit", "-i", str(picture), "-p", "x", "--weights", "Qwen/Qwen-Image-Edit-2511", cwd=tmp_path,
        HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
    )  # fmt: skip
    assert_one_line_error(done, elapsed, "Qwen/Qwen-Image-Edit-2511", "cannot be reached")


def test_weights_check_says_complete_or_what_is_missing(tmp_path: Path, tiny_dir: Path) -> None:
    done, _ = pixelrun("weights", "check", str(tiny_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # A tiny directory also carries its Lightning LoRA and safety classifier.
    assert done.stdout.splitlines() == [
        "checkpoint: ok",
        "Lightning LoRA: ok",
        "safety classifier: ok",
        f"{tiny_dir}: complete",
    ]

    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    shutil.rmtree(broken / "vae")
    done, _ = pixelrun("weights", "check", str(broken), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "checkpoint: INCOMPLETE: vae/ missing"


def test_weights_download_without_the_hub_fails_at_once(tmp_path: Path) -> None:
    done, elapsed = pixelrun(
        "weights", "download", "--to", str(tmp_path / "w"), cwd=tmp_path, HF_HUB_OFFLINE="1"
    )
    assert_one_line_error(done, elapsed, "Qwen/Qwen-Image-Edit-2511", "HF_HUB_OFFLINE")
    done, elapsed = pixelrun(
        "weights", "download", "--to", str(tmp_path / "w"), cwd=tmp_path,
        HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
    )  # fmt: skip
    assert_one_line_error(done, elapsed, "cannot be reached", "on a machine with Hub access")
    assert not (tmp_path / "w").exists()


def test_weights_help_lists_download_and_check(tmp_path: Path) -> None:
    done, _ = pixelrun("weights", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "download" in done.stdout and "check" in done.stdout
