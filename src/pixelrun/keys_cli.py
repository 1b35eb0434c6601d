"""`pixelrun keys` and `pixelrun owners`: API keys and budgets, straight on the store
(docs/security.md#keys-and-budgets).

A revoked key stops working on every API process within `PIXELRUN_AUTH_CACHE_SECONDS`
(each process reuses a successful lookup that long). Server modules are imported inside
the commands: the client commands work with the light base install.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pixelrun.store import Store

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
owners_app = typer.Typer(help="Owners (organisations) and their budgets.", no_args_is_help=True)

DatabaseOption = Annotated[str | None, typer.Option(help="Store URL (default: SQLite in the data dir).")]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Data directory (default: $PIXELRUN_DATA_DIR or ./.pixelrun).")
]


def open_store(database_url: str | None, data_dir: Path | None) -> Store:
    """The store these flags and the environment name; says which on stderr, and warns when
    it is a new one (a command run from another directory would otherwise make one quietly)."""
    from pixelrun.cli_settings import command_settings, describe_store, new_store_warning
    from pixelrun.store import Store

    settings = command_settings(database_url=database_url, data_dir=data_dir)
    where, new = describe_store(settings)
    typer.echo(f"pixelrun: warning: {new_store_warning(where)}" if new else f"store: {where}", err=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.migrate()
    return store


def budget_units(usd: float | None) -> int | None:
    """A budget in dollars as the owners repository stores it: micro-dollars (None: unlimited;
    docs/api.md#billing)."""
    from decimal import Decimal

    from pixelrun.runs import MICROS_PER_USD

    return None if usd is None else round(Decimal(str(usd)) * MICROS_PER_USD)


def budget_text(budget: int | None) -> str:
    from pixelrun.runs import micros_to_usd

    return "unlimited" if budget is None else f"${micros_to_usd(budget)}"


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="Owner (organisation) name; created if new.")],
    label: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "default",
    budget_usd: Annotated[
        float | None, typer.Option(help="Credit budget of a NEW owner in USD (default: unlimited).")
    ] = None,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an API key; the key is printed once, alone on the last line of stdout."""
    store = open_store(database_url, data_dir)
    try:
        owner_record = store.owners.ensure(owner, budget_units(budget_usd))
        record, plain = store.keys.create(owner_record.id, label)
    finally:
        store.close()
    typer.echo(
        f"owner {owner_record.name} ({owner_record.id}), budget {budget_text(owner_record.budget_micros)}; "
        f"key {record.id} '{label}':"
    )
    typer.echo(plain)


@keys_app.command("list")
def keys_list(
    owner: Annotated[str | None, typer.Option(help="Only this owner's keys.")] = None,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Every key (id, displayed prefix, owner, label, created, revoked); never the key itself."""
    store = open_store(database_url, data_dir)
    try:
        owner_id = None
        if owner is not None:
            found = store.owners.named(owner)
            if found is None:
                raise _fail(f"no owner named {owner!r}")
            owner_id = found.id
        names = {record.id: record.name for record in store.owners.all()}
        keys = store.keys.all(owner_id)
    finally:
        store.close()
    typer.echo(f"{'id':<36}  {'prefix':<12}  {'owner':<16}  {'label':<16}  {'created':<20}  revoked")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if key.revoked_at else "-"
        typer.echo(
            f"{key.id:<36}  {key.key_prefix:<12}  {names.get(key.owner_id, key.owner_id):<16}  "
            f"{key.label:<16}  {key.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20}  {revoked}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id, its displayed prefix (px_...), or the key itself.")
    ],
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: it stops working within PIXELRUN_AUTH_CACHE_SECONDS on every API process."""
    from pixelrun.config import Settings

    store = open_store(database_url, data_dir)
    try:
        matches = store.keys.find(key)
        if not matches:
            raise _fail(
                f"no key matches {key!r} (give its id, its prefix from `pixelrun keys list`, or the key)"
            )
        if len(matches) > 1:
            listed = ", ".join(f"{match.id} ({match.key_prefix})" for match in matches)
            raise _fail(f"{key!r} matches {len(matches)} keys: {listed}; give the id")
        record = matches[0]
        if record.revoked_at is not None:
            typer.echo(f"key {record.id} ({record.key_prefix}) was already revoked")
            return
        store.keys.revoke(record.id)
    finally:
        store.close()
    cache = Settings().auth_cache_seconds
    typer.echo(
        f"revoked key {record.id} ({record.key_prefix}, '{record.label}'); "
        f"API processes refuse it within {cache:g} s (PIXELRUN_AUTH_CACHE_SECONDS)"
    )


@owners_app.command("list")
def owners_list(database_url: DatabaseOption = None, data_dir: DataDirOption = None) -> None:
    """Every owner with its budget and what it has spent."""
    store = open_store(database_url, data_dir)
    try:
        owners = store.owners.all()
    finally:
        store.close()
    typer.echo(f"{'name':<20}  {'id':<36}  {'budget':>12}  {'spent':>12}")
    for owner in owners:
        typer.echo(
            f"{owner.name:<20}  {owner.id:<36}  {budget_text(owner.budget_micros):>12}  "
            f"{budget_text(owner.spent_micros):>12}"
        )


@owners_app.command("set-budget")
def owners_set_budget(
    owner: Annotated[str, typer.Argument(help="Owner name.")],
    usd: Annotated[
        float | None, typer.Option(help="The new budget in USD (what the owner may spend in all).")
    ] = None,
    unlimited: Annotated[bool, typer.Option("--unlimited", help="No budget: unlimited credit.")] = False,
    database_url: DatabaseOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set or change an owner's budget (creates are refused with 402 once spent + estimate passes it)."""
    if (usd is None) == (not unlimited):
        raise _fail("give either --usd AMOUNT or --unlimited")
    if usd is not None and usd < 0:
        raise _fail("--usd must not be negative")
    store = open_store(database_url, data_dir)
    try:
        record = store.owners.named(owner)
        if record is None:
            raise _fail(f"no owner named {owner!r} (create one with `pixelrun keys create --owner`)")
        store.owners.set_budget(record.id, budget_units(usd))
        updated = store.owners.get(record.id)
    finally:
        store.close()
    assert updated is not None
    typer.echo(
        f"owner {updated.name}: budget {budget_text(updated.budget_micros)}, "
        f"spent {budget_text(updated.spent_micros)}"
    )


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pixelrun: {message}", err=True)
    return typer.Exit(2)
