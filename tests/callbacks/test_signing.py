import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from pixelrun.callbacks import generate_secret, runflow_signature, standard_webhook_headers


def test_generate_secret_shape() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_secret() != secret


def test_runflow_signature_known_vector(secret: str) -> None:
    # Independent vector: printf '%s' '{"run_id":"r1","note":"café"}' | openssl dgst -sha256 -hmac <secret>
    body = '{"run_id":"r1","note":"café"}'.encode()
    expected = "72e7b2bb26157193f2c4e3edcd229a0198ffa78b58dab19ce82730625c788786"
    assert runflow_signature(body, [secret]) == expected


def test_runflow_signature_is_keyed_with_the_whole_secret_string(secret: str, body: bytes) -> None:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert runflow_signature(body, [secret]) == expected
    assert expected == expected.lower()


def test_runflow_signature_rotation(secret: str, new_secret: str, body: bytes) -> None:
    header = runflow_signature(body, [new_secret, secret])
    assert header == f"{runflow_signature(body, [new_secret])},{runflow_signature(body, [secret])}"


def test_runflow_signature_covers_every_byte(secret: str, body: bytes) -> None:
    changed = body.replace(b"caf\xc3\xa9", b"caf\xc3\xa8")
    assert changed != body
    assert runflow_signature(changed, [secret]) != runflow_signature(body, [secret])
    assert runflow_signature(body + b"\n", [secret]) != runflow_signature(body, [secret])


def test_standard_webhook_spec_vector(spec_vector: dict[str, Any]) -> None:
    v = spec_vector
    headers = standard_webhook_headers(v["msg_id"], v["timestamp"], v["body"], [v["secret"]])
    assert headers == {
        "webhook-id": v["msg_id"],
        "webhook-timestamp": str(v["timestamp"]),
        "webhook-signature": v["signature"],
    }


def test_standard_webhook_rotation_has_one_entry_per_secret(
    secret: str, new_secret: str, body: bytes
) -> None:
    both = standard_webhook_headers("msg_1", 1_700_000_000, body, [new_secret, secret])
    one = standard_webhook_headers("msg_1", 1_700_000_000, body, [new_secret])["webhook-signature"]
    other = standard_webhook_headers("msg_1", 1_700_000_000, body, [secret])["webhook-signature"]
    assert both["webhook-signature"] == f"{one} {other}"


@pytest.mark.parametrize("secrets", [[], ["whsec_not base64!"], ["whsec_"]])
def test_signing_refuses_unusable_secrets(secrets: list[str], body: bytes) -> None:
    with pytest.raises(ValueError):
        standard_webhook_headers("msg_1", 1, body, secrets)


def test_runflow_signature_needs_a_secret(body: bytes) -> None:
    with pytest.raises(ValueError):
        runflow_signature(body, [])


@pytest.mark.parametrize("msg_id", ["", "msg 1", "msg\r\n1", "msg_\u00e9"])
def test_bad_message_ids_are_refused(secret: str, msg_id: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        standard_webhook_headers(msg_id, 1, body, [secret])


@pytest.mark.parametrize("timestamp", [-1, True, 1.5])
def test_bad_timestamps_are_refused(secret: str, timestamp: int, body: bytes) -> None:
    with pytest.raises(ValueError):
        standard_webhook_headers("msg_1", timestamp, body, [secret])


class TestReferenceLibrary:
    """The reference ``standardwebhooks`` verifier accepts what Pixelrun sends."""

    standardwebhooks = pytest.importorskip("standardwebhooks")

    def test_reference_verifies_our_headers(self, secret: str, body: bytes) -> None:
        headers = standard_webhook_headers("msg_01ABC", int(time.time()), body, [secret])
        assert self.standardwebhooks.Webhook(secret).verify(body, headers) == {
            "event": "run.completed",
            "run_id": "r1",
            "note": "café",
            "completed_at": "2025-01-01T00:00:00+00:00",
        }

    def test_reference_verifies_each_rotated_secret(self, secret: str, new_secret: str, body: bytes) -> None:
        headers = standard_webhook_headers("msg_01ABC", int(time.time()), body, [new_secret, secret])
        for s in (secret, new_secret):
            self.standardwebhooks.Webhook(s).verify(body, headers)
        with pytest.raises(self.standardwebhooks.WebhookVerificationError):
            self.standardwebhooks.Webhook(generate_secret()).verify(body, headers)

    def test_reference_refuses_a_changed_byte(self, secret: str, body: bytes) -> None:
        headers = standard_webhook_headers("msg_01ABC", int(time.time()), body, [secret])
        with pytest.raises(self.standardwebhooks.WebhookVerificationError):
            self.standardwebhooks.Webhook(secret).verify(body.replace(b"r1", b"r2"), headers)

    def test_generated_secrets_work_with_the_reference(self, body: bytes) -> None:
        secret = generate_secret()
        headers = standard_webhook_headers("msg_2", int(time.time()), body, [secret])
        self.standardwebhooks.Webhook(secret).verify(body, headers)
