"""The deployment files name only things the code has: every PIXELRUN_* variable is a
setting, every probe path a route, every command a `pixelrun` command."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.testclient import TestClient
from typer._click.exceptions import UsageError  # typer's own click

from pixelrun.cli import app as cli
from pixelrun.config import Settings

from .deploy_files import DEPLOY, ROOT, compose_raw, kubernetes_documents, relative

DOCKERFILE = ROOT / "Dockerfile"
SETTINGS = {f"PIXELRUN_{name.upper()}" for name in Settings.model_fields}


def deploy_files() -> list[Path]:
    return [DOCKERFILE, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]


def pixelrun_args() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `pixelrun`) of every command the image is told to run."""
    dockerfile = DOCKERFILE.read_text()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    assert json.loads(entrypoint)[-1] == "pixelrun"
    (command,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)
    yield "Dockerfile CMD", json.loads(command)
    for name, service in compose_raw()["services"].items():
        if str(service.get("image", "")).startswith("${IMAGE"):
            yield f"compose {name}", service["command"]
    for path, doc in kubernetes_documents():
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            yield f"{relative(path)} {container['name']}", container["args"]


def resolve(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse `pixelrun ARGV` as the CLI would (commands, options, values) without running it."""
    command = typer.main.get_command(cli)
    context = command.make_context("pixelrun", list(argv))
    while hasattr(command, "commands"):  # a group: pick the subcommand
        name, command, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        context = command.make_context(name, rest, parent=context)
    return str(command.name), context.params


def probe_paths() -> Iterator[tuple[str, str]]:
    (healthcheck,) = re.findall(r"urlopen\('http://127\.0\.0\.1:8000(/[^']*)'", DOCKERFILE.read_text())
    yield "Dockerfile HEALTHCHECK", healthcheck
    for path, doc in kubernetes_documents():
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe in container:
                    yield f"{relative(path)} {probe}", container[probe]["httpGet"]["path"]
        if doc["kind"] == "ServiceMonitor":
            for endpoint in doc["spec"]["endpoints"]:
                yield f"{relative(path)} ServiceMonitor", endpoint["path"]


def test_every_pixelrun_variable_in_the_deploy_files_is_a_setting() -> None:
    unknown = {
        f"{relative(path)}: {name}"
        for path in deploy_files()
        for name in re.findall(r"\bPIXELRUN_[A-Z0-9_]*[A-Z0-9]", path.read_text())
        if name not in SETTINGS
    }
    assert unknown == set()


def test_the_settings_that_must_agree_are_set_once_for_every_kubernetes_process() -> None:
    shared = {
        name
        for _, doc in kubernetes_documents()
        if doc["kind"] in ("ConfigMap", "Secret")
        for name in {**doc.get("data", {}), **doc.get("stringData", {})}
    }
    assert {"PIXELRUN_DATABASE_URL", "PIXELRUN_STORAGE_URL", "PIXELRUN_SIGNING_SECRET"} <= shared
    assert {"PIXELRUN_PUBLIC_BASE_URL", "PIXELRUN_FILE_URLS", "PIXELRUN_RETENTION_HOURS"} <= shared


@pytest.mark.parametrize("where, argv", list(pixelrun_args()), ids=lambda value: str(value))
def test_every_command_is_a_real_pixelrun_command(where: str, argv: list[str]) -> None:
    name, params = resolve(argv)
    assert name in ("serve", "worker", "download"), (where, name)
    if name == "serve":
        assert params["host"] == "0.0.0.0"  # reachable from outside the container


def test_a_wrong_command_or_option_is_refused() -> None:
    for argv in (["serve", "--hots", "0.0.0.0"], ["workers"], ["serve", "--port", "http"]):
        with pytest.raises(UsageError):
            resolve(argv)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from pixelrun.api.app import create_app
    from pixelrun.store import Store

    data = tmp_path_factory.mktemp("routes")
    store = Store(f"sqlite:///{data / 'pixelrun.db'}")
    store.migrate()
    settings = Settings(data_dir=data, signing_secret="s" * 32, background_tasks=False)
    with TestClient(create_app(settings, store)) as client:
        yield client
    store.close()


@pytest.mark.parametrize("where, path", list(probe_paths()), ids=lambda value: str(value))
def test_every_probe_path_is_a_real_route(where: str, path: str, api: TestClient) -> None:
    # 200, or 503 for readiness without a worker: answered by the route, not a 404 or 405.
    assert api.get(path).status_code in (200, 503), where
    assert api.get(path + "-nothing").status_code == 404
