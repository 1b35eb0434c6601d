"""Per-request plumbing as one pure ASGI middleware: request id, URL hygiene, the errors
raised by the body guard inside it (api/body_guard.py: key before body, size cap, read
timeout), last-resort 500.

Pure ASGI rather than `BaseHTTPMiddleware` so that an unexpected exception is answered
here, with the envelope and the request id, instead of reaching Starlette's
ServerErrorMiddleware (plain text, no id).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelrun.api.errors import ApiError, ErrorShape, error_response, shaped_error_response
from pixelrun.store import is_unavailable

log = logging.getLogger("pixelrun.api")

REQUEST_ID_HEADER = "X-Request-Id"
#: Seconds a client is asked to wait before retrying when the store cannot be reached.
STORE_RETRY_AFTER_SECONDS = 5
# A caller's id is reused only when it cannot smuggle anything into logs or headers.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        error_shapes: Sequence[ErrorShape] = (),
    ) -> None:
        self.app = app
        self.error_shapes = tuple(error_shapes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            # PostgreSQL refuses NUL in text; answer here instead of failing in a query.
            bad_url = ApiError(400, "BAD_REQUEST", "NUL characters are not allowed in the URL.")
            await self._respond(bad_url, scope, receive, send_with_id)
            return

        try:
            await self.app(scope, receive, send_with_id)
        except ApiError as exc:
            # Raised by the body guard before the app ran, or while a route read the body
            # itself (outside FastAPI's handlers).
            if started:
                raise
            await self._respond(exc, scope, receive, send_with_id)
        except Exception as exc:
            if is_unavailable(exc):
                # The database is down or unreachable: a 503 that clients and load balancers
                # retry, not a 500. The pool reconnects by itself once it is back.
                log.warning(
                    "store unavailable in %s %s (request id %s): %s",
                    scope.get("method"),
                    scope.get("path"),
                    request_id,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
                if started:
                    raise
                unavailable = store_unavailable_response()
                await shaped_error_response(
                    scope.get("path", ""),
                    self.error_shapes,
                    503,
                    "UNAVAILABLE",
                    "The store cannot be reached right now; retry later.",
                    headers={"Retry-After": unavailable.headers["Retry-After"]},
                )(scope, receive, send_with_id)
                return
            log.exception(
                "unhandled error in %s %s (request id %s)", scope.get("method"), scope.get("path"), request_id
            )
            if started:
                raise
            response = shaped_error_response(
                scope.get("path", ""),
                self.error_shapes,
                500,
                "INTERNAL",
                f"Internal server error; quote request id {request_id} when reporting it.",
            )
            await response(scope, receive, send_with_id)

    async def _respond(self, exc: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        response = shaped_error_response(
            scope.get("path", ""),
            self.error_shapes,
            exc.status_code,
            exc.code,
            exc.message,
            exc.errors,
            exc.headers,
        )
        # Tell the client the connection will not carry the rest of a refused body.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def store_unavailable_response() -> Response:
    return error_response(
        503,
        "UNAVAILABLE",
        "The store cannot be reached right now; retry later.",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex
