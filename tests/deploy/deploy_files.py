"""The deployment files under deploy/, loaded as compose and Kubernetes would read them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
KUBERNETES = DEPLOY / "kubernetes"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """`NAME=value` lines, as compose reads a .env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `$$`."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if name is None:
            return "$"
        found = variables.get(name)
        unset_or_empty = not found
        if op in (":-", "-") and (found is None or (op == ":-" and unset_or_empty)):
            return arg
        if op in (":?", "?") and (found is None or (op == ":?" and unset_or_empty)):
            raise KeyError(f"{name}: {arg}")
        return found or ""

    return _VARIABLE.sub(replace, value)


def variables_used(text: str) -> dict[str, str | None]:
    """Every `${NAME...}` in `text`: its operator (`:-`, `:?`, ...), or None."""
    return {m.group("name"): m.group("op") for m in _VARIABLE.finditer(text) if m.group("name")}


def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def compose_resolved(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file with .env.example's values (passwords filled in), as `docker compose config` sees it."""
    values = {**env_file(), "POSTGRES_PASSWORD": "pw1", "MINIO_ROOT_PASSWORD": "pw2"}
    values |= variables or {}
    return interpolate(compose_raw(), values)  # type: ignore[no-any-return]


def kubernetes_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every object in deploy/kubernetes/ (the kustomization file apart), with its file."""
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


def relative(path: Path) -> str:
    return os.path.relpath(path, ROOT)
