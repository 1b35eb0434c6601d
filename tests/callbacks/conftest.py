"""Fixtures for the callback tests: signing vectors, and stores, runs, receivers and dispatchers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from callback_helpers import MODEL, STORED_OUTPUT, FinishRun, MakeDispatcher, url_for
from callback_receiver import Receiver

from pixelrun.callbacks import CallbackDispatcher
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.runs import RunStatus
from pixelrun.store import NewRun, Owner, RunRecord, Store

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def spec_vector() -> dict[str, Any]:
    """The published test vector of the Standard Webhooks specification."""
    return {
        "secret": SPEC_SECRET,
        "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "timestamp": 1614265330,
        "body": b'{"test": 2432232314}',
        "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.fixture
def secret() -> str:
    return SPEC_SECRET


@pytest.fixture
def new_secret() -> str:
    return "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


@pytest.fixture
def body() -> bytes:
    # Non-ASCII and a "+00:00" offset: the exact bytes matter, not the JSON they parse to.
    text = '{"event":"run.completed","run_id":"r1","note":"café","completed_at":"2025-01-01T00:00:00+00:00"}'
    return text.encode()


# ---- dispatcher tests: a store on both back ends, terminal runs, real receivers ----


@pytest.fixture
def finish_run(store: Store, owner: Owner) -> FinishRun:
    """A run that went through a worker to a terminal status (the outbox row is written then)."""

    def finish(callback_url: str | None, status: RunStatus = RunStatus.SUCCEEDED, **kwargs: Any) -> RunRecord:
        run = store.runs.create(
            NewRun(
                owner.id,
                MODEL,
                {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]},
                metadata=kwargs.pop("metadata", {"order": "café-42"}),
                callback_url=callback_url,
            )
        ).run
        if status is RunStatus.CANCELED:
            store.runs.cancel(run.id, owner.id)
        else:
            claimed = store.queue.claim("worker-1", [MODEL], 30)
            assert claimed is not None and claimed.id == run.id
            output = STORED_OUTPUT if status is RunStatus.SUCCEEDED else None
            assert store.queue.finish(
                run.id, claimed.attempt, "worker-1", status, output=output, failure_code="boom", **kwargs
            )
        finished = store.runs.get(run.id)
        assert finished is not None
        return finished

    return finish


@pytest.fixture
def client() -> OutboundClient:
    # The receivers listen on loopback, which the default policy refuses.
    return OutboundClient(NetworkPolicy(allow_private=True))


@pytest.fixture
def make_dispatcher(store: Store, client: OutboundClient) -> MakeDispatcher:
    count = 0

    def make(**kwargs: Any) -> CallbackDispatcher:
        nonlocal count
        count += 1
        kwargs.setdefault("worker_id", f"api-{count}")
        kwargs.setdefault("poll_interval", 0.05)
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("claim_seconds", 5.0)
        return CallbackDispatcher(kwargs.pop("store", store), kwargs.pop("client", client), url_for, **kwargs)

    return make


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(port: int = 0, **kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start(port)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
