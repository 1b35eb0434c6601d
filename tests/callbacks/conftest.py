from typing import Any

import pytest

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
