"""The README's `requests` snippet runs as written (only the server URL and key differ)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import Live, png_bytes

README = Path(__file__).resolve().parents[2] / "README.md"


def requests_snippet() -> str:
    text = README.read_text()
    start = text.index("import base64, time, requests")
    return text[start : text.index("\n\n", start)]


def test_the_readme_requests_snippet_runs_as_written(live: Live, tmp_path: Path) -> None:
    snippet = requests_snippet()
    assert '"http://127.0.0.1:8000", "px_..."' in snippet
    snippet = snippet.replace('"http://127.0.0.1:8000", "px_..."', f'"{live.base_url}", "{live.key}"')
    (tmp_path / "in.png").write_bytes(png_bytes(64, 48))
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert re.match(r"https?://", url), done.stdout
    assert httpx.get(url, timeout=30).content.startswith(b"\x89PNG")
