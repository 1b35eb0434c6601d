"""The hosted API document's three examples, run for real against `pixelrun serve`.

Only the base URL and the key change (and the image URL: these machines have no internet,
so the seed's image is served from loopback at the same path).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import requests
from PIL import Image

from .server import Server, StaticFiles

MODEL_PATH = "/v1/models/alibaba/qwen-image-edit-2511/runs"


def seed_input(images: StaticFiles) -> str:
    return images.url + "/images/models/_shared/base-engineer.png"


def check_finished(server: Server, run_id: str) -> None:
    run = server.wait_run(run_id)
    assert run["status_code"] == "succeeded", run
    output = run["output"]["outputs"][0]
    picture = requests.get(output["url"], timeout=10)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    decoded = Image.open(io.BytesIO(picture.content))
    decoded.load()
    assert decoded.size == (output["width"], output["height"])
    # ≈1 MP at the aspect ratio of the (4:3) input image.
    assert (output["width"], output["height"]) == (1184, 896)
    assert float(run["cost"]) == pytest.approx(0.03 * 1184 * 896 / 1e6, abs=1e-6)


def test_python_example(server: Server, images: StaticFiles, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f'''
        import requests

        response = requests.post(
            "{server.base_url}{MODEL_PATH}",
            headers={{"Authorization": "Bearer {server.key}"}},
            json={{
                "input": {{
                    "prompt": "Move this person to a Mars colony habitat...",
                    "image_urls": [
                        "{seed_input(images)}"
                    ]
                }},
                "callback_url": "https://your-server.com/webhook"
            }},
        )

        data = response.json()
        print(data)
        '''
    )
    (tmp_path / "example.py").write_text(script)
    result = subprocess.run(
        ["python3", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:  # the machine's python may lack requests; the venv's has it
        import sys

        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
    run_id = re.search(r"'id': '([0-9a-f-]{36})'", result.stdout).group(1)
    assert "'status_code': 'queued'" in result.stdout
    check_finished(server, run_id)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_nodejs_example(server: Server, images: StaticFiles, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        const response = await fetch(
          "{server.base_url}{MODEL_PATH}",
          {{
            method: "POST",
            headers: {{
              "Authorization": "Bearer {server.key}",
              "Content-Type": "application/json",
            }},
            body: JSON.stringify({{
                "input": {{
                    "prompt": "Move this person to a Mars colony habitat...",
                    "image_urls": [
                        "{seed_input(images)}"
                    ]
                }},
                "callback_url": "https://your-server.com/webhook"
            }}),
          }}
        );

        const data = await response.json();
        console.log(data);
        """
    )
    path = tmp_path / "example.mjs"
    path.write_text(script)
    result = subprocess.run(["node", str(path)], capture_output=True, text=True, timeout=60, check=True)
    run_id = re.search(r"id: '([0-9a-f-]{36})'", result.stdout).group(1)
    assert "status_code: 'queued'" in result.stdout
    check_finished(server, run_id)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_example(server: Server, images: StaticFiles, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        curl -X POST {server.base_url}{MODEL_PATH} \\
          -H "Authorization: Bearer $RUNFLOW_API_KEY" \\
          -H "Content-Type: application/json" \\
          --data-binary @- <<'JSON'
        {{
            "input": {{
                "prompt": "Move this person to a Mars colony habitat...",
                "image_urls": [
                    "{seed_input(images)}"
                ]
            }},
            "callback_url": "https://your-server.com/webhook"
        }}
        JSON
        """
    )
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"RUNFLOW_API_KEY": server.key, "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    run_id = re.search(r'"id":\s*"([0-9a-f-]{36})"', result.stdout).group(1)
    check_finished(server, run_id)
