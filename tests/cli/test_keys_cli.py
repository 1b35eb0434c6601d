"""`pixelrun keys list / revoke` and `pixelrun owners set-budget`, through the command line
(typer's CliRunner) against a real store on both back ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelrun.api.auth_cache import AuthCache
from pixelrun.cli import app
from pixelrun.store import Store

Cli = Callable[..., str]


@pytest.fixture
def cli(store: Store, tmp_path: Path) -> Cli:
    url = store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--database-url", url, "--data-dir", str(tmp_path)])
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    return run


def create_key(cli, owner: str, label: str) -> str:
    return cli("keys", "create", "--owner", owner, "--label", label).strip().splitlines()[-1]


def test_keys_list_shows_every_key_without_the_secret(cli: Cli, store: Store) -> None:
    first = create_key(cli, "acme", "ci")
    second = create_key(cli, "globex", "laptop")
    listing = cli("keys", "list")
    assert first not in listing and second not in listing  # only the displayed prefixes
    assert first[:12] in listing and second[:12] in listing
    assert "acme" in listing and "globex" in listing and "laptop" in listing
    only_acme = cli("keys", "list", "--owner", "acme")
    assert first[:12] in only_acme and second[:12] not in only_acme
    cli("keys", "list", "--owner", "nobody", code=2)


@pytest.mark.parametrize("by", ["id", "prefix", "key"])
def test_revoke_by_id_prefix_or_key(cli: Cli, store: Store, by: str) -> None:
    plain = create_key(cli, "acme", "ci")
    keeper = create_key(cli, "acme", "other")
    auth = store.keys.authenticate(plain)
    assert auth is not None
    reference = {"id": auth.key_id, "prefix": plain[:12], "key": plain}[by]
    out = cli("keys", "revoke", reference)
    assert f"revoked key {auth.key_id}" in out and "PIXELRUN_AUTH_CACHE_SECONDS" in out
    assert store.keys.authenticate(plain) is None
    assert store.keys.authenticate(keeper) is not None
    assert "already revoked" in cli("keys", "revoke", reference)
    listing = [line for line in cli("keys", "list").splitlines() if plain[:12] in line]
    assert len(listing) == 1 and not listing[0].rstrip().endswith("-")


def test_revoke_refuses_unknown_and_ambiguous_references(cli: Cli, store: Store) -> None:
    create_key(cli, "acme", "a")
    create_key(cli, "acme", "b")
    assert "no key matches" in cli("keys", "revoke", "px_nothing_like_it", code=2)
    # "px_" alone is shorter than a usable prefix: it names no key, it revokes nothing.
    cli("keys", "revoke", "px_", code=2)
    assert store.keys.count() == 2


def test_a_revoked_key_stops_working_within_the_auth_cache_time(cli: Cli, store: Store) -> None:
    plain = create_key(cli, "acme", "ci")
    now = [0.0]
    cache = AuthCache(2.0, clock=lambda: now[0])
    assert cache.get(plain, store.keys.authenticate) is not None
    cli("keys", "revoke", plain[:12])
    now[0] = 1.0
    assert cache.cached(plain) is not None  # still cached in this process, for at most 2 s
    now[0] = 2.5
    assert cache.cached(plain) is None and cache.get(plain, store.keys.authenticate) is None


def test_owner_budgets_are_set_and_changed_in_dollars(cli: Cli, store: Store) -> None:
    plain = create_key(cli, "acme", "ci")
    auth = store.keys.authenticate(plain)
    assert auth is not None
    assert "budget $12.500000" in cli("owners", "set-budget", "acme", "--usd", "12.5")
    assert store.owners.balance(auth.owner_id) == (12_500_000, 0)  # micro-dollars
    assert "budget $3.000001" in cli("owners", "set-budget", "acme", "--usd", "3.000001")
    assert store.owners.balance(auth.owner_id)[0] == 3_000_001
    assert "unlimited" in cli("owners", "set-budget", "acme", "--unlimited")
    assert store.owners.balance(auth.owner_id)[0] is None
    assert "acme" in cli("owners", "list")
    cli("owners", "set-budget", "acme", code=2)  # neither --usd nor --unlimited
    cli("owners", "set-budget", "nobody", "--usd", "1", code=2)
