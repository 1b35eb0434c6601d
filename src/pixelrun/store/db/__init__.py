"""Database plumbing under the repositories: engines and transactions (`database`),
prebuilt statements on the DBAPI cursor (`raw_statement`), group commit, reads on the
event loop, queue wake-ups (`notify`, `local_wake`), column types, keyset cursors and
migrations. Nothing here knows what a run is."""
