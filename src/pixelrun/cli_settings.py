"""How a server command builds its `Settings`: the environment, with the flags that were
given winning (docs/settings.md), and which store it opens.

Kept apart from the commands so that tests can resolve a command's settings without
starting anything. `pixelrun.config` is imported inside the functions: the client
commands work with the light base install, which has no server modules.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pixelrun.config import Settings


def command_settings(**flags: object) -> Settings:
    """The settings of this command: the environment, and the flags that were given (None:
    not given) winning over it (docs/settings.md). A bad setting ends the command with one
    line that names it, its value and what is expected; exit status 2."""
    from pixelrun.config import InvalidSettings, load_settings

    try:
        return load_settings(**flags)
    except InvalidSettings as error:
        for line in error.lines:
            typer.echo(f"pixelrun: {line}", err=True)
        raise typer.Exit(2) from None


def serve_settings(
    *,
    host: str | None = None,
    port: int | None = None,
    weights: str | None = None,
    device: str | None = None,
    database_url: str | None = None,
    data_dir: Path | None = None,
    public_base_url: str | None = None,
    models: str | None = None,
) -> Settings:
    """`pixelrun serve`'s settings from its flags (None: not given) and the environment."""
    settings = command_settings(
        host=host,
        port=port,
        weights=weights,
        device=device,
        database_url=database_url,
        data_dir=data_dir,
        public_base_url=public_base_url,
        models=models,
    )
    if "public_base_url" not in settings.model_fields_set:
        shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        settings.public_base_url = f"http://{shown}:{settings.port}"
    return settings


def worker_settings(
    *,
    weights: str | None = None,
    device: str | None = None,
    database_url: str | None = None,
    data_dir: Path | None = None,
    cpu_offload: bool | None = None,
    models: str | None = None,
) -> Settings:
    """`pixelrun worker`'s settings from its flags (None: not given) and the environment."""
    return command_settings(
        weights=weights,
        device=device,
        database_url=database_url,
        data_dir=data_dir,
        cpu_offload=cpu_offload,
        models=models,
    )


def describe_store(settings: Settings) -> tuple[str, bool]:
    """(which store the settings name, whether it is a SQLite file that does not exist yet).

    Said by every command that opens a store: run from another directory, the default
    `./.pixelrun` is a new, empty store, which otherwise looks like lost keys and runs."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).resolve()
        return f"SQLite {path}", not path.exists()
    return url.render_as_string(hide_password=True), False


def new_store_warning(where: str) -> str:
    return (
        f"no store at {where} yet: creating a new, empty one (to use an existing store, pass "
        "--data-dir or --database-url, or set PIXELRUN_DATA_DIR or PIXELRUN_DATABASE_URL)"
    )


def log_store(settings: Settings) -> None:
    where, new = describe_store(settings)
    log = logging.getLogger("pixelrun.cli")
    if new:
        log.warning(new_store_warning(where))
    else:
        log.info("store: %s", where)
