"""What a request body may cost before anyone looks at it (docs/security.md#limits), as one
pure ASGI middleware inside `RequestContextMiddleware` (which shapes its errors):

1. the API key, from the headers, before a byte of the body is read (401): a stranger
   cannot make the process hold a 40 MB body only to be refused after it;
2. the size cap (413): from `Content-Length` when declared, otherwise counted while the
   chunks arrive, raised as soon as it is passed;
3. the read timeout (408): a body that has not fully arrived within the timeout (plus a
   second per MiB declared, or per MiB of the route's cap for a chunked body) of the first
   read ends the request and its connection, so a slow trickle cannot hold a connection
   (and what it sent so far) for longer than that.

4. the body memory budget: bodies over 1 MiB are read a few at a time, within
   `PIXELRUN_BODY_MEMORY_BYTES` per process; the others wait their turn unread (503 with
   `Retry-After` if the turn does not come within the read timeout).

Until the app asks for the body nothing is read from the socket (uvicorn pauses reading
past 64 KiB), so a refused or waiting body costs the process next to nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelrun.api.deps import CHECKED_AUTH, unauthorized
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
        f"The request body did not arrive within {seconds:.0f} s.",
        headers=_CLOSE,
    )


#: Bytes per second a body is given beyond the read timeout (see `BodyGuardMiddleware`).
MIN_BODY_RATE = 1024 * 1024
#: Bodies up to this size skip the memory budget: they cost little and must never wait.
SMALL_BODY_BYTES = 1024 * 1024


def server_busy(seconds: float) -> ApiError:
    return ApiError(
        503,
        "UNAVAILABLE",
        f"Too many large request bodies are being received; none was free within {seconds:g} s. Retry later.",
        headers={**_CLOSE, "Retry-After": "1"},
    )


class BodyBudget:
    """Bytes of request bodies being read at once; a body waits until its size fits (one
    body larger than the whole budget goes alone)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._freed = asyncio.Condition()

    async def acquire(self, amount: int, timeout: float) -> None:
        async with self._freed:
            await asyncio.wait_for(
                self._freed.wait_for(lambda: self.used == 0 or self.used + amount <= self.total), timeout
            )
            self.used += amount

    async def release(self, amount: int) -> None:
        async with self._freed:
            self.used -= amount
            self._freed.notify_all()


class _Reservation:
    """One body's share of the budget, given back once (when read in full, or at the end)."""

    def __init__(self, budget: BodyBudget | None, amount: int) -> None:
        self._budget = budget
        self._amount = amount

    async def release(self) -> None:
        budget, self._budget = self._budget, None
        if budget is not None:
            await budget.release(self._amount)


class BodyGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        read_timeout_seconds: float,
        body_memory_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        streamed_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_seconds = read_timeout_seconds
        self.budget = BodyBudget(body_memory_bytes)
        # Routes that stream their body to storage instead of holding it: no budget needed.
        self.streamed_prefixes = streamed_prefixes
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

        reservation = _Reservation(None, 0)
        if _has_body(scope, headers) and not path.startswith(self.streamed_prefixes):
            size = declared if declared is not None else limit
            if size > SMALL_BODY_BYTES:
                try:
                    await self.budget.acquire(size, self.read_timeout_seconds)
                except TimeoutError:
                    raise server_busy(self.read_timeout_seconds) from None
                reservation = _Reservation(self.budget, size)
        # The whole body's time: the timeout, plus a second per MiB it may have (a 50 MiB
        # upload on a slow link is not a trickle; a 40 MB body 1 byte at a time still is).
        expected = declared if declared is not None else limit
        timeout = self.read_timeout_seconds + expected / MIN_BODY_RATE
        try:
            await self._guarded(scope, receive, send, limit, reservation, timeout)
        finally:
            await reservation.release()

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit: int,
        reservation: _Reservation,
        timeout: float,
    ) -> None:
        received = 0
        body_done = False
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
            if body_done:
                # Read in full: the parse that follows runs before this task yields, so the
                # next body may start now (docs/security.md#limits).
                await reservation.release()
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
    auth = cache.cached(key) or await run_in_threadpool(cache.get, key, services.store.keys.authenticate)
    if auth is None:
        raise unauthorized("Invalid or revoked API key.")
    # The route's `require_auth` takes it from here: one lookup per request, even uncached.
    scope.setdefault("state", {})[CHECKED_AUTH] = (key, auth)


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
