"""Runs leave the API as wire objects through one presenter: signed file URLs, links and
the queue position, the same in every route, stream and callback of the API process."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from fastapi import Response

from pixelrun.api.wire import RunOut
from pixelrun.config import Settings
from pixelrun.runs import RunStatus
from pixelrun.storage import FileStorage
from pixelrun.store import RunRecord, Store

# `present(..., queue_position=UNKNOWN)`: not read yet, so `present` reads it.
UNKNOWN: Any = object()


class RunPresenter:
    def __init__(
        self, store: Store, settings: Settings, storage: FileStorage, read_limiter: anyio.CapacityLimiter
    ) -> None:
        self._store = store
        self._storage = storage
        self._base_url = settings.public_base_url
        self._ttl = settings.file_url_ttl_seconds
        #: The threads blocking reads and URL signing take turns on.
        self.read_limiter = read_limiter

    def present(self, run: RunRecord, *, queue_position: int | None = UNKNOWN) -> RunOut:
        """The wire form of a run. Pass `queue_position` when it was read with the run
        (`store.runs.get_with_position`) to save a query."""
        if run.status is not RunStatus.QUEUED:
            queue_position = None
        elif queue_position is UNKNOWN:
            queue_position = self._store.runs.queue_position(run)
        return RunOut.from_record(
            run,
            base_url=self._base_url,
            url_for=lambda key: self._storage.url_for(key, self._ttl),
            queue_position=queue_position,
        )

    async def present_on_loop(self, run: RunRecord, queue_position: int | None = UNKNOWN) -> RunOut:
        """`present` for coroutines: on the loop when nothing needs I/O, else in a thread.

        A run with stored files needs signed URLs, and signing may do I/O (an S3 client
        refreshing its credentials); a queued run without its position needs a query.
        """
        needs_io = has_stored_files(run) or (run.status is RunStatus.QUEUED and queue_position is UNKNOWN)
        if not needs_io:
            return self.present(run, queue_position=queue_position)
        return await anyio.to_thread.run_sync(
            lambda: self.present(run, queue_position=queue_position), limiter=self.read_limiter
        )


def has_stored_files(run: RunRecord) -> bool:
    outputs = (run.output or {}).get("outputs") or []
    return any("key" in item for item in outputs)


def json_response(body: RunOut, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` serialised once by pydantic. Returning the model instead makes FastAPI dump it,
    validate it again against the response model and serialise it: three passes per request.
    The bytes are the same (`RunOut` holds only JSON types; timestamps are strings already).
    """
    return Response(
        body.model_dump_json(), status_code=status_code, headers=headers, media_type="application/json"
    )
