"""The playground's files (docs/playground.md): served without a key, shipped in the package, nothing from outside."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

from pixelrun.api.routes.playground import PLAYGROUND_DIR, STATIC_PREFIX

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"""from\s+"\./([\w.-]+)";""")
REFERENCE = re.compile(r"""(?:src|href)="(/playground/static/[^"]+)\"""")


def test_the_page_is_served_at_the_root_and_at_playground_without_a_key(client: TestClient) -> None:
    for path in ("/", "/playground"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert 'aria-label="Images"' in response.text and 'role="alert"' in response.text
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy


def test_every_file_the_page_loads_is_served_with_its_type(client: TestClient) -> None:
    html = client.get("/").text
    referenced = REFERENCE.findall(html)
    assert f"{STATIC_PREFIX}/main.js" in referenced and f"{STATIC_PREFIX}/style.css" in referenced
    modules = {"main.js"}
    pending = ["main.js"]
    while pending:  # follow the ES module imports from main.js
        source = (PLAYGROUND_DIR / pending.pop()).read_text()
        for name in IMPORT.findall(source):
            if name not in modules:
                modules.add(name)
                pending.append(name)
    assert modules == {p.name for p in PLAYGROUND_DIR.glob("*.js")}, "a module is unused or missing"
    for url in [*referenced, *(f"{STATIC_PREFIX}/{m}" for m in modules)]:
        response = client.get(url)
        assert response.status_code == 200, url
        expected = "text/css" if url.endswith(".css") else "javascript"
        assert expected in response.headers["content-type"], url
    assert client.get(f"{STATIC_PREFIX}/nope.js").status_code == 404


def test_no_outside_resource_and_every_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "pixelrun"
    ]
    suffixes = {p.rsplit("*", 1)[-1] for p in patterns}
    files = [p for p in PLAYGROUND_DIR.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert path.suffix in suffixes, f"{path.name} would be left out of the wheel"
        # Works air-gapped: no URL to another host, no protocol-relative URL.
        assert not re.search(r"(https?:)?//[\w-]+\.[\w.-]+", path.read_text()), path.name
