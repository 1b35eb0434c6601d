"""`store.previews`: the preview images of running runs (docs/api.md#previews).

A preview is a `preview` row of the run's event stream (`run_stream_events`: step, steps)
plus its image in `run_previews` under the same id, written in one transaction; the stream
reads both (`store.history.stream_rows_after`). Images are small (at most `MAX_BYTES`) and
short-lived: `purge`, run by the API's housekeeping every few seconds, deletes those of
runs that ended more than `GRACE` ago (time for every open stream to read them) and any
older than `MAX_AGE` (a stuck or requeued run's). The stream row stays, like the run's
progress rows; its event is left out once the image is gone. The table therefore holds
the previews of the runs computing now and of the last seconds, whatever the volume.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine, delete, exists, insert, or_, select

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import StreamKind
from pixelrun.store.stream import notify_stream
from pixelrun.store.tables import run_previews, run_stream_events, runs

#: The largest preview image the store takes: a 256 px WEBP is a few KiB.
MAX_BYTES: Final = 64 * 1024
#: How long after its run ended a preview is kept: open streams read it within a poll.
GRACE: Final = timedelta(seconds=30)
#: How long any preview is kept: a preview says something for a step or two.
MAX_AGE: Final = timedelta(minutes=10)


class PreviewTooLarge(ValueError):
    pass


class PreviewsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, run_id: str, step: int, steps: int, media_type: str, data: bytes) -> int:
        """Store one preview after `step` of `steps` and tell the run's streams; its stream row id."""
        if len(data) > MAX_BYTES:
            raise PreviewTooLarge(f"a preview of {len(data)} bytes; at most {MAX_BYTES} are kept")
        now = utc_now()
        with write_tx(self._engine) as conn:
            result = conn.execute(
                insert(run_stream_events).values(
                    run_id=run_id, kind=StreamKind.PREVIEW.value, step=step, steps=steps, created_at=now
                )
            )
            row_id = int(result.inserted_primary_key[0])
            conn.execute(
                insert(run_previews).values(
                    id=row_id, run_id=run_id, media_type=media_type, data=data, created_at=now
                )
            )
            notify_stream(conn, run_id)
        return row_id

    def purge(self, now: datetime | None = None) -> int:
        """Delete previews of runs that ended `GRACE` ago and any older than `MAX_AGE`; how many.

        A read first, so that a store without previews (the usual case) takes no write lock.
        """
        now = now or utc_now()
        with read_tx(self._engine) as conn:
            if conn.execute(select(run_previews.c.id).limit(1)).first() is None:
                return 0
        ended = exists().where(
            runs.c.id == run_previews.c.run_id,
            runs.c.completed_at.is_not(None),
            runs.c.completed_at < now - GRACE,
        )
        with write_tx(self._engine) as conn:
            result = conn.execute(
                delete(run_previews).where(or_(run_previews.c.created_at < now - MAX_AGE, ended))
            )
        return int(result.rowcount or 0)
