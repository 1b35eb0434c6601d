"""The body and headers of one attempt."""

from __future__ import annotations

import json
import time

import pytest
import standardwebhooks

from pixelrun.callbacks import callback_headers, encode_body
from pixelrun.client.webhooks import verify_runflow_signature


def test_body_is_compact_utf8_json() -> None:
    text = encode_body({"run_id": "r1", "metadata": {"note": "café"}, "output": None})
    assert text == '{"run_id":"r1","metadata":{"note":"café"},"output":null}'
    assert json.loads(text.encode()) == {"run_id": "r1", "metadata": {"note": "café"}, "output": None}
    with pytest.raises(ValueError):
        encode_body({"x": float("nan")})


def test_headers_without_secrets_carry_the_ids_only() -> None:
    headers = callback_headers("req-1", "msg_1", b"{}", [], 1_700_000_000)
    assert headers == {
        "Content-Type": "application/json",
        "Runflow-Request-Id": "req-1",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
    }


def test_signed_headers_verify_with_every_active_secret(secret: str, new_secret: str, body: bytes) -> None:
    now = int(time.time())
    headers = callback_headers("req-1", "msg_1", body, [new_secret, secret], now)
    assert (headers["Runflow-Request-Id"], headers["webhook-id"]) == ("req-1", "msg_1")
    assert headers["webhook-timestamp"] == str(now)
    assert len(headers["Runflow-Signature"].split(",")) == 2
    for s in (secret, new_secret):
        assert verify_runflow_signature(body, headers["Runflow-Signature"], s)
        standardwebhooks.Webhook(s).verify(body, headers)
