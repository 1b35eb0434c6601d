"""The base distribution is the light client: no server dependencies, no server imports."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SERVER_ONLY = {
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "fastapi",
    "sqlalchemy",
    "uvicorn",
    "pydantic-settings",
    "psycopg",
}
# Python modules of the server extra (and the server's own settings module).
SERVER_MODULES = [
    "torch",
    "diffusers",
    "transformers",
    "fastapi",
    "sqlalchemy",
    "pydantic_settings",
    "pixelrun.config",
]

# Makes every server module unimportable, as on a machine with only `pip install pixelrun`.
BLOCK_SERVER = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {[m for m in SERVER_MODULES if "." not in m]!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_base_dependencies_are_the_light_client() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    base = _names(project["dependencies"])
    assert base == {"httpx", "pydantic", "typer", "rich"}
    assert not base & SERVER_ONLY
    assert {"torch", "diffusers", "transformers", "accelerate", "fastapi"} <= _names(
        project["optional-dependencies"]["server"]
    )


def test_importing_the_client_and_cli_leaves_the_server_out() -> None:
    code = (
        "import sys, pixelrun.client, pixelrun.client.cli, pixelrun.cli\n"
        f"print(sorted(m for m in {SERVER_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_client_commands_work_without_the_server_packages() -> None:
    code = BLOCK_SERVER + (
        "from pixelrun.client import Pixelrun, AsyncPixelrun\n"
        "from pixelrun.cli import app\n"
        "import sys\n"
        "sys.argv = ['pixelrun', 'runs', 'get', 'x', '--server', 'http://127.0.0.1:9', '--key', 'k']\n"
        "app()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # It reached the network (nothing listens on port 9): the command ran without the server.
    assert result.returncode == 1, result.stderr
    assert "error:" in result.stderr and "blocked" not in result.stderr
    help_text = subprocess.run(
        [sys.executable, "-c", BLOCK_SERVER + "import sys; sys.argv=['pixelrun','run','--help']\n"
         "from pixelrun.cli import app; app()"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert help_text.returncode == 0 and "--prompt" in help_text.stdout
