"""The asynchronous client: `AsyncPixelrun`, the same surface as `Pixelrun` with `await`.

The synchronous client, `_sync.py`, is generated from this file by `scripts/unasync.py`
(`make generate`): edit this file only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx

from pixelrun.client._core import (
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    STREAM_READ_TIMEOUT,
    ClientConfig,
    backoff_delay,
    create_timeout,
    local_image,
    needs_upload,
    new_idempotency_key,
    prefer_header,
    raise_for_response,
    raise_for_run,
    should_retry_status,
    uploads_unsupported,
)
from pixelrun.client.errors import APIConnectionError, APIError, WaitTimeoutError
from pixelrun.client.models import Asset, LogLine, Run, StreamEvent, parse_event
from pixelrun.client.sse import SseParser

ProgressCallback = Callable[[StreamEvent], None]


class AsyncPixelrun:
    """A Pixelrun API client. `base_url` and `api_key` default to `PIXELRUN_BASE_URL`
    (else http://127.0.0.1:8000) and `PIXELRUN_API_KEY`.

    Requests that fail with 429, 503 or a network error are retried with backoff
    (`max_retries` times); run creates are retried only because each carries an
    `Idempotency-Key`, so a retry never makes a second run.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(base_url, api_key, timeout, max_retries)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http_client is None
        self.runs = AsyncRuns(self)
        self.assets = AsyncAssets(self)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncPixelrun:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def edit(
        self,
        prompt: str,
        images: list[Any],
        model_id: str = DEFAULT_MODEL,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **input: Any,
    ) -> Run:
        """Edit images and return the succeeded run (`run.output.outputs[0].url`).

        `images`: URLs, local paths, bytes or PIL images (local ones are uploaded first).
        `on_progress` gets every stream event (status, progress, log, preview, done); pass
        `preview_every=N` for a `preview` (`.data.image_bytes()`) every N steps. A failed or
        canceled run raises `RunFailedError` / `RunCanceledError`.
        """
        urls = [(await self.assets.upload(image)).url if needs_upload(image) else image for image in images]
        run = await self.runs.create(model_id, input={"prompt": prompt, "image_urls": urls, **input})
        return raise_for_run(await self.runs._follow(run.id, timeout, on_progress))

    # Transport.
    async def _request(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        auth: bool = True,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**(self.config.auth_headers() if auth else {}), **kwargs.pop("headers", {})}
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    self.config.url(path),
                    headers=headers,
                    timeout=timeout or self.config.timeout,
                    **kwargs,
                )
            except httpx.TransportError as error:
                if not retry or attempt >= self.config.max_retries:
                    raise APIConnectionError(f"{method} {path}: {error}") from error
                await asyncio.sleep(backoff_delay(attempt))
                attempt += 1
                continue
            if retry and should_retry_status(response) and attempt < self.config.max_retries:
                await asyncio.sleep(backoff_delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            raise_for_response(response)
            return response


class AsyncRuns:
    def __init__(self, client: AsyncPixelrun) -> None:
        self._client = client

    async def create(
        self,
        model_id: str,
        input: dict[str, Any],
        callback_url: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        wait: bool | int | None = None,
        client_ref: str | None = None,
    ) -> Run:
        """Create a run. `wait` (True: up to 60 s, or N seconds) holds the answer until the
        run is terminal or the time is up (`Prefer: wait`)."""
        body = {"input": input, "callback_url": callback_url, "metadata": metadata, "client_ref": client_ref}
        headers = {"Idempotency-Key": idempotency_key or new_idempotency_key(), **prefer_header(wait)}
        response = await self._client._request(
            "POST",
            f"/v1/models/{model_id}/runs",
            json=body,
            headers=headers,
            timeout=create_timeout(wait, self._client.config.timeout),
        )
        return Run.model_validate(response.json())

    async def get(self, run_id: str) -> Run:
        return Run.model_validate((await self._client._request("GET", f"/v1/runs/{run_id}")).json())

    async def list(
        self,
        *,
        status: str | None = None,
        model_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[Run]:
        """Every matching run, newest first, fetching pages as the iteration goes."""
        params: dict[str, Any] = {"limit": page_size}
        for name, value in (
            ("status_code", status),
            ("model_id", model_id),
            ("created_after", created_after),
            ("created_before", created_before),
        ):
            if value is not None:
                params[name] = value.isoformat() if isinstance(value, datetime) else value
        while True:
            page = (await self._client._request("GET", "/v1/runs", params=params)).json()
            for item in page["items"]:
                yield Run.model_validate(item)
            if not page.get("next_pq"):
                return
            params["pq"] = page["next_pq"]

    async def cancel(self, run_id: str) -> Run:
        """Cancel the run (a no-op on a terminal run); the run as it is now."""
        response = await self._client._request("POST", f"/v1/runs/{run_id}/cancellation")
        return Run.model_validate(response.json())

    async def logs(self, run_id: str) -> list[LogLine]:
        response = await self._client._request("GET", f"/v1/runs/{run_id}/logs")
        return [LogLine.model_validate(line) for line in response.json()]

    async def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """The terminal run; `WaitTimeoutError` when it is not terminal after `timeout` s."""
        return await self._follow(run_id, timeout, None)

    def stream(self, run_id: str, last_event_id: str | None = None) -> AsyncIterator[StreamEvent]:
        """The run's events (`.event`, `.data`) until `done`: status, progress, log, preview
        (a `Preview`, when the run's input has `preview_every`) and done; reconnects after
        network errors, resuming after the last event received."""
        return self._events(run_id, last_event_id, None)

    async def _follow(self, run_id: str, timeout: float | None, on_event: ProgressCallback | None) -> Run:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async with contextlib.aclosing(self._events(run_id, None, deadline)) as events:
                async for event in events:
                    if on_event is not None:
                        on_event(event)
                    if event.event == "done":
                        return event.data
        except TimeoutError:
            pass
        run = await self.get(run_id)
        if run.is_terminal:
            return run
        raise WaitTimeoutError(run, timeout or 0)

    async def _events(
        self, run_id: str, last_event_id: str | None, deadline: float | None
    ) -> AsyncIterator[StreamEvent]:
        client = self._client
        failures = 0
        while True:
            read_timeout = STREAM_READ_TIMEOUT
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                read_timeout = min(read_timeout, remaining)
            headers = {**client.config.auth_headers(), "Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            parser = SseParser()
            try:
                async with client._http.stream(
                    "GET",
                    client.config.url(f"/v1/runs/{run_id}/stream"),
                    headers=headers,
                    timeout=httpx.Timeout(client.config.timeout, read=read_timeout),
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        if should_retry_status(response) and failures < client.config.max_retries:
                            await asyncio.sleep(backoff_delay(failures, response.headers.get("retry-after")))
                            failures += 1
                            continue
                        raise_for_response(response)
                    async for line in response.aiter_lines():
                        if deadline is not None and time.monotonic() > deadline:
                            raise TimeoutError
                        raw = parser.feed(line)
                        if raw is None:
                            continue
                        failures = 0
                        last_event_id = raw.id or last_event_id
                        event = parse_event(raw.id, raw.event, json.loads(raw.data))
                        yield event
                        if event.event == "done":
                            return
                    failures += 1  # closed before `done` (a restart): resume
            except httpx.ReadTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError from None
                failures += 1
            except httpx.TransportError as error:
                failures += 1
                if failures > client.config.max_retries:
                    raise APIConnectionError(f"stream of run {run_id}: {error}") from error
            # The stream ended early or broke: resume after the last event.
            if failures > client.config.max_retries:
                raise APIConnectionError(f"stream of run {run_id} kept breaking")
            await asyncio.sleep(backoff_delay(max(failures - 1, 0)))


class AsyncAssets:
    def __init__(self, client: AsyncPixelrun) -> None:
        self._client = client

    async def upload(self, source: Any, filename: str | None = None, mime_type: str | None = None) -> Asset:
        """Upload a local path, bytes or a PIL image (docs/uploads.md); `.url` goes in `image_urls`.

        Against a server without uploads, the asset is a `data:` URI instead.
        """
        image = local_image(source, filename, mime_type)
        client = self._client
        body = {"filename": image.filename, "mime_type": image.mime_type, "size_bytes": len(image.data)}
        try:
            ticket = (await client._request("POST", "/v1/asset-uploads", json=body)).json()
        except APIError as error:
            if uploads_unsupported(error):
                return Asset(
                    id="", url=image.data_uri(), mime_type=image.mime_type, size_bytes=len(image.data)
                )
            raise
        await client._request(
            "PUT",
            ticket["upload_url"],
            content=image.data,
            headers={"Content-Type": image.mime_type},
            auth=False,
        )
        confirmed = await client._request("POST", f"/v1/asset-uploads/{ticket['asset_id']}/confirmations")
        return Asset.model_validate(confirmed.json())
