from typing import Any

import pytest

from pixelrun.callbacks import runflow_signature, standard_webhook_headers

NOW = 1_750_000_000


@pytest.fixture
def secret() -> str:
    return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def other_secret() -> str:
    return "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


@pytest.fixture
def now() -> int:
    return NOW


@pytest.fixture
def body() -> bytes:
    # The exact bytes a receiver gets: non-ASCII, no spaces, "+00:00" offsets.
    text = '{"event":"run.completed","run_id":"r1","note":"café","completed_at":"2025-01-01T00:00:00+00:00"}'
    return text.encode()


@pytest.fixture
def headers(secret: str, body: bytes, now: int) -> dict[str, str]:
    """Headers as the Pixelrun dispatcher sends them, signed at ``now``."""
    return {
        **standard_webhook_headers("msg_01J0ABCDEF", now, body, [secret]),
        "Runflow-Signature": runflow_signature(body, [secret]),
    }


@pytest.fixture
def spec_vector() -> dict[str, Any]:
    """The published test vector of the Standard Webhooks specification."""
    return {
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "headers": {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
        "body": b'{"test": 2432232314}',
        "now": 1614265330,
    }
