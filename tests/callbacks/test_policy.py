"""The retry policy (docs/callbacks.md): 3 attempts, waits of 1 s then 2 s, retry only what may pass later."""

from __future__ import annotations

import pytest

from pixelrun.callbacks import MAX_ATTEMPTS, RETRY_WAITS, decide, retry_wait
from pixelrun.net import PostResult


def test_defaults() -> None:
    assert (MAX_ATTEMPTS, tuple(RETRY_WAITS)) == (3, (1.0, 2.0))


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_succeeds(status: int) -> None:
    assert decide(PostResult(status, 5), 1).outcome == "succeeded"


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308, 400, 401, 404, 409, 410, 422, 429])
def test_3xx_and_4xx_fail_at_once(status: int) -> None:
    decision = decide(PostResult(status, 5, f"HTTP {status}"), 1)
    assert (decision.outcome, decision.retry_in) == ("failed", None)


def test_a_refused_url_fails_at_once() -> None:
    assert decide(PostResult(None, 0, "refused: private address", refused=True), 1).outcome == "failed"


@pytest.mark.parametrize(
    "result",
    [
        PostResult(500, 5, "HTTP 500"),
        PostResult(503, 5, "HTTP 503"),
        PostResult(None, 10_000, "timed out after 10s"),
    ],
)
def test_5xx_timeouts_and_network_errors_are_retried_twice(result: PostResult) -> None:
    first, second, third = (decide(result, n) for n in (1, 2, 3))
    assert (first.outcome, first.retry_in) == ("pending", 1.0)
    assert (second.outcome, second.retry_in) == ("pending", 2.0)
    assert (third.outcome, third.retry_in) == ("failed", None)


def test_max_attempts_and_waits_can_be_changed() -> None:
    result = PostResult(502, 1)
    assert decide(result, 1, max_attempts=1).outcome == "failed"
    assert [retry_wait(n, (0.5,)) for n in (1, 2, 3)] == [0.5, 0.5, 0.5]
    assert retry_wait(4) == 2.0  # the last wait repeats
    assert retry_wait(1, ()) == 0.0
