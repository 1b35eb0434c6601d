"""`GET /v1/runs/{run_id}/stream`: the run's events as Server-Sent Events (docs/api.md, "Streaming")."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.routes.runs import RunId, run_not_found
from pixelrun.api.streaming.follow import encoded, follow_run, parse_last_event_id, sse_response
from pixelrun.api.wire import ErrorOut

router = APIRouter(tags=["runs"])

_DESCRIPTION = """`text/event-stream` of the run's events, each with an increasing `id:`:
`status` (the run object; first the current state, then at every status change),
`progress` (`{"step", "steps"}` after each denoising step), `log` (a log line as in
`/logs`), `preview` (`{"step", "steps", "url"}`: a JPEG of at most 256 px as a `data:` URI,
when the run has previews on: its input's `preview_every`) and `done` (the terminal run
object; the stream then closes). A `: keep-alive`
comment is sent at least every 15 s. Send `Last-Event-ID` to resume after an event."""


@router.get(
    "/runs/{run_id}/stream",
    summary="Stream a run's events (SSE)",
    description=_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        401: {"model": ErrorOut, "description": "Missing or invalid API key"},
        404: {"model": ErrorOut, "description": "RUN_NOT_FOUND"},
    },
)
async def stream_run(
    run_id: RunId,
    auth: CurrentAuth,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    run = await anyio.to_thread.run_sync(services.store.runs.get, run_id, auth.owner_id)
    if run is None:
        raise run_not_found(run_id)
    body = follow_run(
        services.stream_hub,
        run_id,
        parse_last_event_id(last_event_id),
        services.settings.stream_keepalive_seconds,
    )
    return sse_response(encoded(body))
