"""Alembic environment: runs on the connection that `pixelrun.store.db.migrate` passes in.

Run from the command line (`alembic -x url=...`) it builds its own engine instead.
"""

from __future__ import annotations

from alembic import context

from pixelrun.store.db.database import create_engine_for
from pixelrun.store.tables import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # The caller holds the transaction (and the migration lock) and commits it.
        context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
        context.run_migrations()
        return
    engine = create_engine_for(_url())
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata, transactional_ddl=True)
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
