"""Prebuilt statements run on the DBAPI cursor, for the few statements of the hot paths.

`Connection.execute` costs ~0.1 ms of CPU per statement on top of the database's own work
(execution context, parameter and result processing, events): more than a small indexed
SELECT costs SQLite. `RawSelect` compiles its statement once per dialect with SQLAlchemy
(the same SQL and bind processors SQLAlchemy would use) and runs it on the connection's
DBAPI cursor, in the caller's transaction. Errors are wrapped like SQLAlchemy's own, so
`is_unavailable` and the callers see the same exceptions. Not for statements that need
Python-side column defaults (refused at compile time) or RETURNING.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("a statement with Python-side column defaults needs Connection.execute")
        self.sql = compiled.string
        self.positional = compiled.positional
        self.names = list(compiled.positiontup or ()) if compiled.positional else None
        self.compiled = compiled
        # SQLAlchemy's own bind processors for this statement (private, stable across 2.x).
        processors = compiled._bind_processors
        self.processors = {name: processors[name] for name in compiled.binds if name in processors}
        # What SQLAlchemy does to each result column (JSON text decoded on SQLite, timestamps
        # parsed and made aware), applied by `first_mapping`.
        entries = compiled._result_columns
        self.keys = [entry[0] for entry in entries]
        self.result_processors = [entry[3]._cached_result_processor(dialect, None) for entry in entries]

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = self.compiled.construct_params(dict(params))
        for name, processor in self.processors.items():
            if name in values:
                values[name] = processor(values[name])
        if self.names is not None:
            return tuple(values[name] for name in self.names)
        return values


class RawStatement:
    """`statement` on the DBAPI cursor; `column_keys`: the keys an INSERT is given."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = column_keys
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect, self.column_keys)
        return compiled

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run it for its effect (an INSERT, a NOTIFY)."""
        self._run(conn, params, fetch=False)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row as a plain tuple (no result processing), or None."""
        return self._run(conn, params, fetch=True)

    def first_mapping(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row by column name, processed like SQLAlchemy's rows, or None."""
        row = self._run(conn, params, fetch=True)
        if row is None:
            return None
        compiled = self._for(conn.dialect)
        return {
            key: processor(value) if processor is not None else value
            for key, processor, value in zip(compiled.keys, compiled.result_processors, row, strict=True)
        }

    def _run(self, conn: Connection, params: Mapping[str, Any], fetch: bool) -> tuple[Any, ...] | None:
        dialect = conn.dialect
        compiled = self._for(dialect)
        parameters = compiled.parameters(params)
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            return cursor.fetchone() if fetch else None
        except dialect.loaded_dbapi.Error as error:
            # The pool discards a broken connection when it fails to roll it back.
            is_disconnect = dialect.is_disconnect(error, dbapi_connection, cursor)
            raise sa_exc.DBAPIError.instance(
                compiled.sql,
                parameters,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=is_disconnect,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()
