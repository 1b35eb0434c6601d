"""The `pixelrun` command line, run as a user would (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pixelrun.store import Store


def pixelrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelrun.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.new("RGB", (120, 80), (10, 120, 200)).save(path)
    return path


def test_edit_writes_images_with_progress_on_stderr(tmp_path: Path, picture: Path) -> None:
    done = pixelrun(
        "edit", "--image", str(picture), "--image", str(picture), "--prompt", "make it red",
        "-o", "out/edit.webp", "--weights", "tiny", "--seed", "5", "--steps", "3",
        "--size", "256x300", "--num-images", "2", "--data-dir", str(tmp_path / "data"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["out/edit-1.webp", "out/edit-2.webp"]
    for name in ("edit-1.webp", "edit-2.webp"):
        with Image.open(tmp_path / "out" / name) as image:
            assert (image.format, image.size) == ("WEBP", (256, 288))
    assert "denoising" in done.stderr and "3/3" in done.stderr and "seed 5" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "12x3"], "image_size"),
        (["--steps", "0"], "num_inference_steps"),
        (["-o", "out.gif"], ".png, .jpg"),
    ],
)
def test_edit_refuses_bad_options_with_a_clear_message(
    tmp_path: Path, picture: Path, args: list[str], message: str
) -> None:
    done = pixelrun("edit", "--image", str(picture), "--prompt", "x", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_edit_names_an_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    done = pixelrun("edit", "--image", "bad.png", "--prompt", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "--image #1 bad.png" in done.stderr


def test_keys_create_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    database = tmp_path / "keys.db"
    done = pixelrun(
        "keys", "create", "--owner", "acme", "--label", "ci", "--budget-usd", "2.500001",
        "--database-url", f"sqlite:///{database}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("px_") and " " not in key
    store = Store(f"sqlite:///{database}")
    auth = store.keys.authenticate(key)
    assert auth is not None and (auth.owner_name, auth.key_label) == ("acme", "ci")
    # Dollars on the command line, micro-dollars in the ledger (docs/api.md#billing).
    assert store.owners.balance(auth.owner_id) == (2_500_001, 0)
    assert "budget $2.500001" in done.stdout
    store.close()


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = pixelrun("--help", cwd=tmp_path)
    for command in ("edit", "serve", "worker", "keys", "tiny-weights"):
        assert command in done.stdout
