"""The sync client is generated from the async one (`scripts/unasync.py`) and kept so."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "unasync.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = _load_script()


def test_the_sync_client_on_disk_is_what_the_async_client_generates() -> None:
    diff = unasync.stale()
    assert diff == "", f"_sync.py is stale: run `make generate`\n{diff}"


def test_check_mode_passes_on_the_repository() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_edit_to_the_async_client_alone_makes_the_sync_client_stale(tmp_path: Path) -> None:
    source, target = tmp_path / "_async.py", tmp_path / "_sync.py"
    shutil.copy(unasync.SOURCE, source)
    shutil.copy(unasync.TARGET, target)
    assert unasync.stale(source, target) == ""

    edited = source.read_text().replace(
        "    async def close(self) -> None:\n",
        "    async def ping(self) -> None:\n"
        '        await self._request("GET", "/healthz")\n\n'
        "    async def close(self) -> None:\n",
    )
    assert edited != source.read_text()
    source.write_text(edited)

    diff = unasync.stale(source, target)
    assert '+    def ping(self) -> None:\n+        self._request("GET", "/healthz")\n' in diff


def test_the_generated_client_has_no_async_left() -> None:
    generated = unasync.generate(unasync.SOURCE.read_text())
    for word in ("async ", "await ", "asyncio", "Async", "aclose", "aiter", "aread"):
        assert word not in generated.split('"""', 2)[2], word  # past the module docstring


def test_a_rule_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="matched nothing"):
        unasync.generate('"""The asynchronous client: nothing here."""\n')
