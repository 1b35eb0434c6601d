"""The one outbound HTTP client: input-image fetches (sync) and callback POSTs (async).

Every hop is checked with the address rules, then the connection is pinned to the checked
address: the request goes to the IP literal, with the original ``Host`` header and (for
https) the original name as TLS server name, so certificates are still verified by name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from pixelrun.net.errors import OutboundFailed, OutboundRefused
from pixelrun.net.policy import (
    IPAddress,
    NetworkPolicy,
    ParsedTarget,
    Resolver,
    check_url,
    resolve_and_check,
)

USER_AGENT = "Pixelrun/0.1"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Callback response bodies are read (so the connection closes cleanly) but not kept.
_CALLBACK_BODY_CAP = 64 * 1024

# getaddrinfo has no timeout of its own; running it here lets a fetch give up on it.
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="pixelrun-dns")


@dataclass(frozen=True)
class FetchResult:
    final_url: str
    status_code: int
    content_type: str
    content: bytes


@dataclass(frozen=True)
class PostResult:
    """One callback attempt. ``status_code`` is None when no HTTP answer came back."""

    status_code: int | None
    elapsed_ms: int
    error: str | None = None
    refused: bool = False  # the address rules refused the URL; nothing was sent

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """docs/callbacks.md: retry 5xx, timeouts and network errors; not 3xx/4xx nor refusals."""
        if self.refused:
            return False
        return self.status_code is None or self.status_code >= 500


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def _pinned(target: ParsedTarget, ip: IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and extensions that send the request to ``ip`` on behalf of ``target.host``."""
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT}
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and target.ip is None:
        extensions["sni_hostname"] = target.host
    return url, headers, extensions


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class OutboundClient:
    """Outbound HTTP with the address rules. One instance may be shared; it keeps no connections.

    A fresh connection per request is deliberate: a pooled TLS connection opened for one name
    must never carry a request for another name that resolved to the same address.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self._resolver = resolver
        self._ssl_context = ssl_context

    def _ssl(self) -> ssl.SSLContext:
        # Built lazily and once: loading the CA bundle costs tens of milliseconds.
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _timeout(self, remaining: float) -> httpx.Timeout:
        return httpx.Timeout(
            connect=min(self.connect_timeout, remaining), read=remaining, write=remaining, pool=remaining
        )

    def _resolve(self, target: ParsedTarget, deadline: float) -> list[IPAddress]:
        if target.ip is not None:
            return resolve_and_check(target.host, target.port, self.policy)
        future = _DNS_POOL.submit(
            resolve_and_check, target.host, target.port, self.policy, resolver=self._resolver
        )
        try:
            return future.result(timeout=max(0.0, min(self.connect_timeout, deadline - time.monotonic())))
        except concurrent.futures.TimeoutError:
            raise OutboundFailed(f"timed out resolving host {target.host}") from None

    # ---- image fetches (sync) ----

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        allowed_content_types: str | tuple[str, ...] = "image/",
        follow_redirects: int = 3,
    ) -> FetchResult:
        """GET ``url`` with every redirect hop checked; the body is capped at ``max_bytes``.

        Raises ``OutboundRefused`` (address rules) or ``OutboundFailed`` (anything else).
        """
        prefixes = (
            (allowed_content_types,) if isinstance(allowed_content_types, str) else allowed_content_types
        )
        deadline = time.monotonic() + self.total_timeout
        current = url
        redirects = 0
        while True:
            target = check_url(current)
            addresses = self._resolve(target, deadline)
            with _PinnedStream(self, target, addresses, deadline) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_CODES:
                    if not location:
                        raise OutboundFailed(f"HTTP {response.status_code} redirect without a Location")
                    if redirects >= follow_redirects:
                        raise OutboundFailed(f"too many redirects (more than {follow_redirects})")
                    redirects += 1
                    current = urljoin(target.url, location)
                    continue
                if response.status_code >= 400:
                    raise OutboundFailed(f"HTTP {response.status_code} from {target.host}")
                if not 200 <= response.status_code < 300:
                    raise OutboundFailed(f"unexpected HTTP {response.status_code} from {target.host}")
                content_type = _media_type(response.headers.get("content-type"))
                if not content_type.startswith(prefixes):
                    shown = content_type or "(none)"
                    raise OutboundFailed(
                        f"content type {shown!r} is not allowed (expected {', '.join(prefixes)})"
                    )
                content = self._read_capped(response, target, max_bytes, deadline)
                return FetchResult(
                    final_url=target.url,
                    status_code=response.status_code,
                    content_type=content_type,
                    content=content,
                )

    def _read_capped(
        self, response: httpx.Response, target: ParsedTarget, max_bytes: int, deadline: float
    ) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise OutboundFailed(
                f"response from {target.host} is {_size(int(declared))}, over the {_size(max_bytes)} limit"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            # iter_bytes counts decoded bytes, so a gzip bomb hits the cap too; no chunk_size, so
            # each network read comes back at once and the deadline is checked between reads.
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise OutboundFailed(f"response from {target.host} is over the {_size(max_bytes)} limit")
                if time.monotonic() > deadline:
                    raise OutboundFailed(
                        f"timed out after {self.total_timeout:g}s reading the response from {target.host}"
                    )
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise OutboundFailed(
                f"timed out after {self.total_timeout:g}s reading the response from {target.host}"
            ) from None
        except httpx.HTTPError as exc:
            raise OutboundFailed(f"error reading the response from {target.host}: {exc}") from None
        return b"".join(chunks)

    # ---- callbacks (async) ----

    async def post_json(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None = None
    ) -> PostResult:
        """POST ``body`` once; never follows redirects and never raises for a delivery problem."""
        limit = self.total_timeout if timeout is None else timeout
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = check_url(url)
        except OutboundRefused as exc:
            return PostResult(None, elapsed(), f"refused: {exc.reason}", refused=True)
        try:
            async with asyncio.timeout(limit):
                addresses = await asyncio.to_thread(
                    resolve_and_check, target.host, target.port, self.policy, resolver=self._resolver
                )
                status = await self._post_pinned(target, addresses, body, headers, started + limit)
        except OutboundRefused as exc:
            return PostResult(None, elapsed(), f"refused: {exc.reason}", refused=True)
        except OutboundFailed as exc:
            return PostResult(None, elapsed(), exc.reason)
        except (TimeoutError, httpx.TimeoutException):
            return PostResult(None, elapsed(), f"timed out after {limit:g}s")
        except httpx.HTTPError as exc:
            return PostResult(None, elapsed(), f"network error: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return PostResult(status, elapsed())
        if status in _REDIRECT_CODES or 300 <= status < 400:
            return PostResult(status, elapsed(), f"HTTP {status} (redirects are not followed)")
        return PostResult(status, elapsed(), f"HTTP {status}")

    async def _post_pinned(
        self,
        target: ParsedTarget,
        addresses: list[IPAddress],
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> int:
        last: httpx.ConnectError | None = None
        for ip in addresses:
            pinned_url, pinned_headers, extensions = _pinned(target, ip)
            send_headers = {**dict(headers), **pinned_headers}
            send_headers.setdefault("Content-Type", "application/json")
            remaining = max(0.001, deadline - time.monotonic())
            verify: ssl.SSLContext | bool = self._ssl() if target.scheme == "https" else True
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, verify=verify, timeout=self._timeout(remaining)
            ) as client:
                try:
                    request = client.build_request(
                        "POST", pinned_url, content=body, headers=send_headers, extensions=extensions
                    )
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as exc:
                    last = exc
                    continue
                try:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > _CALLBACK_BODY_CAP:
                            break
                finally:
                    await response.aclose()
                return response.status_code
        assert last is not None
        raise last


class _PinnedStream:
    """Context manager: a streamed GET pinned to the first of ``addresses`` that accepts a connection."""

    def __init__(
        self, owner: OutboundClient, target: ParsedTarget, addresses: list[IPAddress], deadline: float
    ) -> None:
        self._owner = owner
        self._target = target
        self._addresses = addresses
        self._deadline = deadline
        self._client: httpx.Client | None = None
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        target = self._target
        last_error = "no address"
        for ip in self._addresses:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            pinned_url, headers, extensions = _pinned(target, ip)
            verify: ssl.SSLContext | bool = self._owner._ssl() if target.scheme == "https" else True
            client = httpx.Client(
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would undo the pinning
                verify=verify,
                timeout=self._owner._timeout(remaining),
            )
            try:
                request = client.build_request("GET", pinned_url, headers=headers, extensions=extensions)
                response = client.send(request, stream=True)
            except httpx.ConnectTimeout:
                client.close()
                last_error = f"timed out connecting to {target.host} ({ip})"
                continue
            except httpx.ConnectError as exc:
                client.close()
                last_error = f"could not connect to {target.host} ({ip}): {exc}"
                continue
            except httpx.TimeoutException:
                client.close()
                raise OutboundFailed(
                    f"timed out after {self._owner.total_timeout:g}s waiting for {target.host}"
                ) from None
            except httpx.HTTPError as exc:
                client.close()
                raise OutboundFailed(
                    f"request to {target.host} failed: {type(exc).__name__}: {exc}"
                ) from None
            self._client, self._response = client, response
            return response
        if time.monotonic() >= self._deadline:
            raise OutboundFailed(
                f"timed out after {self._owner.total_timeout:g}s fetching from {target.host}"
            )
        raise OutboundFailed(last_error)

    def __exit__(self, *exc_info: object) -> None:
        if self._response is not None:
            self._response.close()
        if self._client is not None:
            self._client.close()
