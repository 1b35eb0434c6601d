"""What a request body may cost before anyone looks at it (docs/security.md#limits), as one
pure ASGI middleware inside `RequestContextMiddleware` (which shapes its errors):

1. the API key, from the headers, before a byte of the body is read (401): a stranger
   cannot make the process hold a 40 MB body only to be refused after it;
2. the size cap (413): from `Content-Length` when declared, otherwise counted while the
   chunks arrive, raised as soon as it is passed;
3. the read timeout (408): a body that has not fully arrived within the timeout of the
   first read ends the request and its connection, so a slow trickle cannot hold a
   connection (and what it sent so far) for longer than that.

Until the app asks for the body nothing is read from the socket (uvicorn pauses reading
past 64 KiB), so a refused body costs the process next to nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelrun.api.deps import unauthorized
from pixelrun.api.errors import ApiError

#: Routes that take a body but no API key: the signed upload URL is its own permission.
OPEN_PREFIXES = ("/v1/uploads/",)
API_PREFIX = "/v1/"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The connection is not reused: the rest of a refused body is never read.
_CLOSE = {"Connection": "close"}


def payload_too_large(limit: int) -> ApiError:
    return ApiError(
        413, "PAYLOAD_TOO_LARGE", f"The request body exceeds the limit of {limit} bytes.", headers=_CLOSE
    )


def request_timeout(seconds: float) -> ApiError:
    return ApiError(
        408,
        "REQUEST_TIMEOUT",
        f"The request body did not arrive within {seconds:g} s.",
        headers=_CLOSE,
    )


class BodyGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        read_timeout_seconds: float,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_seconds = read_timeout_seconds
        # Path prefix -> body limit, for routes whose bodies are not JSON documents.
        self.body_limits = dict(body_limits or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits.items():
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = _headers(scope)
        if _has_body(scope, headers) and path.startswith(API_PREFIX) and not path.startswith(OPEN_PREFIXES):
            await _check_key(scope, headers.get(b"authorization"))
        limit = self._limit_for(path)
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            raise payload_too_large(limit)  # refused before a byte of the body is read

        received = 0
        body_done = False
        timeout = self.read_timeout_seconds
        deadline: float | None = None

        async def guarded_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done:
                # The body is in: later calls wait for a disconnect, as long as a stream lasts.
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + timeout  # for the whole body, from the first read
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise request_timeout(timeout) from None
            if message["type"] == "http.request":
                # Counted as it arrives: chunked bodies declare no length, and a client may
                # send more than it declared.
                received += len(message.get("body", b""))
                if received > limit:
                    raise payload_too_large(limit)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        await self.app(scope, guarded_receive, send)


async def _check_key(scope: Scope, authorization: bytes | None) -> None:
    """401 from the headers alone; a valid key is left in the auth cache for the route."""
    scheme, _, key = (authorization or b"").decode("latin-1").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    services = scope["app"].state.services
    cache = services.auth_cache
    if cache.cached(key) is None and await run_in_threadpool(cache.get, key, services.store.keys.authenticate) is None:
        raise unauthorized("Invalid or revoked API key.")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", ())}


def _has_body(scope: Scope, headers: Mapping[bytes, bytes]) -> bool:
    if scope.get("method") not in _BODY_METHODS:
        return False
    return b"transfer-encoding" in headers or _content_length(headers) not in (None, 0)


def _content_length(headers: Mapping[bytes, bytes]) -> int | None:
    value = headers.get(b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
