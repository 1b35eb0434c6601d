"""Every `serve`/`worker` flag that has a setting: the variable alone, the flag alone, both
(the flag wins); bad settings end every command with one line and exit status 2.

The commands are run through the real typer app (`CliRunner`); only what they would start
(the server, the worker loop) is replaced by a recorder of the `Settings` it was given.
One real `pixelrun serve` checks that PIXELRUN_PORT is where it listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

import pixelrun.cli
import pixelrun.serve
import pixelrun.worker.loop
from e2e import server as e2e_server
from pixelrun.config import Settings

MODEL = "alibaba/qwen-image-edit-2511"
LIGHTNING = "alibaba/qwen-image-edit-2511-lightning"

#: (field, flag, variable value, flag value, resolved from the variable, resolved from the flag)
SERVE_FLAGS: list[tuple[str, list[str], str, Any, Any]] = [
    ("host", ["--host", "127.0.0.3"], "0.0.0.0", "0.0.0.0", "127.0.0.3"),
    ("port", ["--port", "18323"], "18322", 18322, 18323),
    ("weights", ["--weights", "/flag/weights"], "/env/weights", "/env/weights", "/flag/weights"),
    ("device", ["--device", "cuda:1"], "cpu", "cpu", "cuda:1"),
    ("database_url", ["--database-url", "sqlite:///flag.db"], "sqlite:///env.db", "sqlite:///env.db", "sqlite:///flag.db"),
    ("data_dir", ["--data-dir", "/flag/data"], "/env/data", Path("/env/data"), Path("/flag/data")),
    ("public_base_url", ["--public-base-url", "https://flag.example"], "https://env.example", "https://env.example", "https://flag.example"),
    ("models", ["--models", LIGHTNING], MODEL, [MODEL], [LIGHTNING]),
]  # fmt: skip
WORKER_FLAGS = [flag for flag in SERVE_FLAGS if flag[0] not in ("host", "port", "public_base_url")] + [
    ("cpu_offload", ["--cpu-offload"], "0", False, True),
    ("cpu_offload", ["--no-cpu-offload"], "1", True, False),
]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """What `serve` or `worker` would have started with; nothing is started."""
    seen: list[Settings] = []

    class RecordingWorker:
        def __init__(self, settings: Settings, name: str | None = None) -> None:
            seen.append(settings)

        def install_signal_handlers(self) -> None:
            pass

        def run(self) -> None:
            pass

    monkeypatch.setattr(pixelrun.serve, "serve", lambda settings, workers: seen.append(settings))
    monkeypatch.setattr(pixelrun.worker.loop, "Worker", RecordingWorker)
    monkeypatch.setattr(pixelrun.cli, "_setup_logging", lambda verbose, settings: None)
    for name in list(os.environ):
        if name.upper().startswith("PIXELRUN_"):
            monkeypatch.delenv(name)
    return seen


def invoke(command: str, args: list[str], env: dict[str, str], started: list[Settings]) -> Settings:
    result = CliRunner().invoke(pixelrun.cli.app, [command, *args], env=env)
    assert result.exit_code == 0, result.output
    assert len(started) == 1
    return started.pop()


CASES = [
    pytest.param(command, *flag, id=f"{command}-{flag[1][0]}")
    for command, flags in (("serve", SERVE_FLAGS), ("worker", WORKER_FLAGS))
    for flag in flags
]


@pytest.mark.parametrize(("command", "field", "args", "env", "from_env", "from_flag"), CASES)
def test_a_setting_works_from_the_environment_and_its_flag_wins(
    command: str,
    field: str,
    args: list[str],
    env: str,
    from_env: Any,
    from_flag: Any,
    started: list[Settings],
) -> None:
    variable = f"PIXELRUN_{field.upper()}"
    assert from_env != from_flag
    assert getattr(invoke(command, [], {variable: env}, started), field) == from_env
    assert getattr(invoke(command, args, {}, started), field) == from_flag
    assert getattr(invoke(command, args, {variable: env}, started), field) == from_flag


def test_serve_derives_the_public_url_from_the_resolved_host_and_port(started: list[Settings]) -> None:
    settings = invoke("serve", [], {"PIXELRUN_PORT": "18322", "PIXELRUN_HOST": "0.0.0.0"}, started)
    assert (settings.host, settings.port, settings.public_base_url) == (
        "0.0.0.0",
        18322,
        "http://127.0.0.1:18322",
    )
    settings = invoke("serve", ["--port", "18324"], {"PIXELRUN_PORT": "18322"}, started)
    assert settings.public_base_url == "http://127.0.0.1:18324"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PIXELRUN_LOG_FORMAT", "yaml", "expected 'text' or 'json'"),
        ("PIXELRUN_ALLOWED_NETWORKS", "10.20.0.300/16", "expected networks such as 10.20.0.0/16"),
        ("PIXELRUN_ALLOWED_NETWORKS", '["10.20.0.0/16"', "expected a JSON list"),
        ("PIXELRUN_PORT", "http", "expected a valid integer"),
        ("PIXELRUN_QUANTIZE", "int4", "expected 'none', 'int8wo' or 'fp8'"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["worker"],
        ["keys", "create", "--owner", "acme"],
        ["edit", "-i", "in.png", "-p", "x"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_bad_setting_is_one_line_naming_it_and_exit_status_2(
    variable: str, value: str, expected: str, argv: list[str], started: list[Settings], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        pixelrun.cli.app, argv, env={variable: value, "PIXELRUN_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert variable in line and repr(value) in line and expected in line, line
    assert started == [] and not (tmp_path / "pixelrun.db").exists()


def test_serve_listens_on_pixelrun_port(tmp_path: Path) -> None:
    """A real `pixelrun serve` given only PIXELRUN_PORT (and PIXELRUN_HOST) answers there."""
    port = e2e_server.free_port()
    env = e2e_server.test_environment(
        tmp_path, f"sqlite:///{tmp_path / 'pixelrun.db'}", PIXELRUN_PORT=str(port), PIXELRUN_HOST="127.0.0.1"
    )
    # The subprocess imports the same checkout as this test.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(pixelrun.cli.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pixelrun.cli", "serve", "--workers", "0"], env=env, stdout=log, stderr=log
    )
    try:

        def health() -> bool:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        e2e_server.wait_for(health, timeout=90, interval=0.3)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert f"serving on http://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text()
