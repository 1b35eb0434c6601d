"""`pixelrun tiny-weights DIR` then `--weights DIR`, offline, as a newcomer does it: the
directory carries its tiny Lightning LoRA and safety classifier, `weights check` and
serving agree, and a missing part is named with the command that writes it again."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from e2e.server import Server
from pixelrun.config import Settings
from pixelrun.weights.unavailable import WeightsUnavailable

MODELS = ("alibaba/qwen-image-edit-2511", "alibaba/qwen-image-edit-2511-lightning")


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No Hub, and an empty Hugging Face cache: nothing may come from either."""
    (tmp_path / "hf-home").mkdir(exist_ok=True)
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}


def pixelrun(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELRUN_")}
    return subprocess.run(
        [sys.executable, "-m", "pixelrun.cli", *args],
        cwd=tmp_path,
        env={**env, **offline_env(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-cli")
    directory = root / "tiny"
    done = pixelrun("tiny-weights", str(directory), tmp_path=root)
    assert done.returncode == 0, done.stderr
    return directory


def png_data_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_weights_check_names_every_part(tiny_weights: Path, tmp_path: Path) -> None:
    done = pixelrun("weights", "check", str(tiny_weights), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "checkpoint: ok",
        "Lightning LoRA: ok",
        "safety classifier: ok",
        f"{tiny_weights}: complete",
    ]


def test_a_tiny_weights_directory_serves_both_models_offline(tiny_weights: Path, tmp_path: Path) -> None:
    server = Server(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'pixelrun.db'}",
        PIXELRUN_WEIGHTS=str(tiny_weights),
        **offline_env(tmp_path),
    )
    (tmp_path / "data").mkdir()
    server.start()
    try:
        server.wait_key()
        server.wait_ready()
        for model in MODELS:
            created = requests.post(
                f"{server.base_url}/v1/models/{model}/runs",
                json={
                    "input": {
                        "prompt": "make it blue",
                        "image_urls": [png_data_uri()],
                        "image_size": "256x256",
                    }
                },
                headers=server.headers(),
                timeout=30,
            )
            assert created.status_code == 201, created.text
            run = server.wait_run(created.json()["id"])
            assert run["status_code"] == "succeeded", (run, server.log_text()[-3000:])
    finally:
        server.stop()
    assert not any((tmp_path / "hf-home").rglob("*.safetensors"))  # nothing was fetched


def test_a_missing_part_is_named_with_the_command_that_fixes_it(tiny_weights: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_weights, broken)
    shutil.rmtree(broken / "nsfw_image_detection")
    (broken / "lightning-lora.safetensors").unlink()

    check = pixelrun("weights", "check", str(broken), tmp_path=tmp_path)
    assert check.returncode == 1
    assert check.stdout.splitlines()[1:3] == [
        "Lightning LoRA: INCOMPLETE: lightning-lora.safetensors missing",
        "safety classifier: INCOMPLETE: nsfw_image_detection/ missing",
    ]
    assert f"run `pixelrun tiny-weights {broken}`" in check.stderr

    picture = tmp_path / "in.png"
    Image.new("RGB", (64, 48)).save(picture)
    edit = pixelrun("edit", "-i", str(picture), "-p", "x", "--weights", str(broken), tmp_path=tmp_path)
    assert edit.returncode == 1 and "Traceback" not in edit.stderr
    (line,) = [line for line in edit.stderr.splitlines() if line.startswith("error: ")]
    assert "safety classifier is missing" in line and f"pixelrun tiny-weights {broken}" in line

    from pixelrun.engines.qwen_image_edit.factory import lightning_lora_for

    with pytest.raises(WeightsUnavailable, match="Lightning LoRA is missing") as raised:
        lightning_lora_for(Settings(weights=str(broken), data_dir=tmp_path), list(MODELS))
    assert f"pixelrun tiny-weights {broken}" in str(raised.value)
