"""The store's tests use the suite-wide `store`, `owner` and `make_run` fixtures
(tests/conftest.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from pixelrun.store import RunRecord

MODEL = "alibaba/qwen-image-edit-2511"
MakeRun = Callable[..., RunRecord]
