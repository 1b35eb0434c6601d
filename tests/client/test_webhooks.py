import random
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from pixelrun.callbacks import runflow_signature, standard_webhook_headers
from pixelrun.client import (
    WebhookVerificationError,
    verify_runflow_signature,
    verify_standard_webhook,
    verify_webhook,
)
from pixelrun.client import webhooks as webhooks_module

# --- Runflow-Signature ---------------------------------------------------------------


def test_runflow_signature_verifies(headers: dict[str, str], body: bytes, secret: str) -> None:
    assert verify_runflow_signature(body, headers["Runflow-Signature"], secret)
    assert verify_runflow_signature(bytearray(body), headers["Runflow-Signature"], secret)


def test_runflow_known_vector(secret: str) -> None:
    # openssl dgst -sha256 -hmac <secret> over these exact bytes.
    digest = "72e7b2bb26157193f2c4e3edcd229a0198ffa78b58dab19ce82730625c788786"
    assert verify_runflow_signature('{"run_id":"r1","note":"café"}'.encode(), digest, secret)


def test_runflow_changed_byte_fails(headers: dict[str, str], body: bytes, secret: str) -> None:
    for i in (0, len(body) // 2, len(body) - 1):
        changed = bytearray(body)
        changed[i] ^= 0x01
        assert not verify_runflow_signature(bytes(changed), headers["Runflow-Signature"], secret)
    assert not verify_runflow_signature(body + b" ", headers["Runflow-Signature"], secret)


def test_runflow_wrong_secret_fails(headers: dict[str, str], body: bytes, other_secret: str) -> None:
    assert not verify_runflow_signature(body, headers["Runflow-Signature"], other_secret)


def test_runflow_rotation_accepts_either_digest(body: bytes, secret: str, other_secret: str) -> None:
    header = runflow_signature(body, [other_secret, secret])
    assert "," in header
    assert verify_runflow_signature(body, header, secret)
    assert verify_runflow_signature(body, header, other_secret)
    assert verify_runflow_signature(body, header.replace(",", ", "), secret)
    assert not verify_runflow_signature(body, header, "whsec_unrelated")


@pytest.mark.parametrize(
    "header",
    ["", ",", ",,,", "zz", "v1,abc", "\u00e9" * 64, "0" * 64, "a" * 10_000, ",".join(["0" * 64] * 100)],
)
def test_runflow_garbage_header_is_false(header: str, body: bytes, secret: str) -> None:
    assert verify_runflow_signature(body, header, secret) is False


@pytest.mark.parametrize(
    ("body_value", "header_value", "secret_value"),
    [
        (None, "x", "whsec_x"),
        ("text", "x", "whsec_x"),
        (b"x", None, "whsec_x"),
        (b"x", b"ab", "whsec_x"),
        (b"x", "ab", ""),
        (b"x", "ab", None),
    ],
)
def test_runflow_wrong_types_are_false(body_value: Any, header_value: Any, secret_value: Any) -> None:
    assert verify_runflow_signature(body_value, header_value, secret_value) is False


# --- Standard Webhooks -------------------------------------------------------------


def test_standard_webhook_verifies(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    assert verify_standard_webhook(body, headers, secret, now=now)
    verify_webhook(body, headers, secret, now=now)


def test_spec_vector(spec_vector: dict[str, Any]) -> None:
    v = spec_vector
    assert verify_standard_webhook(v["body"], v["headers"], v["secret"], now=v["now"])


def test_header_names_are_case_insensitive(
    headers: dict[str, str], body: bytes, secret: str, now: int
) -> None:
    titled = {k.title(): v for k, v in headers.items()}
    assert verify_standard_webhook(body, titled, secret, now=now)


def test_default_clock_refuses_old_messages(headers: dict[str, str], body: bytes, secret: str) -> None:
    assert not verify_standard_webhook(body, headers, secret)  # signed in 2025, far from now


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(0, True), (300, True), (301, False), (-300, True), (-301, False), (86_400, False), (-86_400, False)],
)
def test_timestamp_tolerance_both_ways(
    headers: dict[str, str], body: bytes, secret: str, now: int, offset: int, ok: bool
) -> None:
    # offset > 0: the receiver's clock is ahead (an old or replayed message); < 0: behind.
    assert verify_standard_webhook(body, headers, secret, now=now + offset) is ok


def test_custom_tolerance(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    assert verify_standard_webhook(body, headers, secret, tolerance_seconds=10, now=now + 10)
    assert not verify_standard_webhook(body, headers, secret, tolerance_seconds=10, now=now + 11)
    assert not verify_standard_webhook(body, headers, secret, tolerance_seconds=10, now=now - 11)


def test_too_old_and_too_new_say_why(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(body, headers, secret, now=now + 301)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify_webhook(body, headers, secret, now=now - 301)


def test_changed_byte_fails(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    for i in range(len(body)):
        changed = bytearray(body)
        changed[i] ^= 0x20
        assert not verify_standard_webhook(bytes(changed), headers, secret, now=now)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify_webhook(body + b"\n", headers, secret, now=now)


@pytest.mark.parametrize(
    ("name", "value"),
    [("webhook-id", "msg_other"), ("webhook-timestamp", str(1_750_000_001))],
)
def test_changed_id_or_timestamp_fails(
    headers: dict[str, str], body: bytes, secret: str, now: int, name: str, value: str
) -> None:
    assert not verify_standard_webhook(body, {**headers, name: value}, secret, now=now)


def test_wrong_secret_fails(headers: dict[str, str], body: bytes, other_secret: str, now: int) -> None:
    assert not verify_standard_webhook(body, headers, other_secret, now=now)


def test_rotation_accepts_any_v1_entry(body: bytes, secret: str, other_secret: str, now: int) -> None:
    headers = standard_webhook_headers("msg_1", now, body, [other_secret, secret])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_standard_webhook(body, headers, secret, now=now)
    assert verify_standard_webhook(body, headers, other_secret, now=now)


def test_unknown_versions_and_junk_entries_are_skipped(
    headers: dict[str, str], body: bytes, secret: str, now: int
) -> None:
    good = headers["webhook-signature"]
    mixed = {**headers, "webhook-signature": f"v2,AAAA v1a,{good[3:]} v1,!!! nocomma {good}"}
    assert verify_standard_webhook(body, mixed, secret, now=now)
    only_other = {**headers, "webhook-signature": f"v2,{good[3:]}"}
    assert not verify_standard_webhook(body, only_other, secret, now=now)


def test_unpadded_secret_is_accepted(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    assert verify_standard_webhook(body, headers, secret.removeprefix("whsec_"), now=now)


class _Exploding(Mapping[str, str]):
    def __repr__(self) -> str:  # stable test ids, so xdist workers agree
        return "_Exploding()"

    def __getitem__(self, key: str) -> str:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 3


GARBAGE_CHANGES: list[dict[str, Any]] = [
    {"webhook-id": None},
    {"webhook-timestamp": None},
    {"webhook-signature": None},
    {"webhook-id": ""},
    {"webhook-timestamp": ""},
    {"webhook-signature": ""},
    {"webhook-timestamp": "1750000000.0"},
    {"webhook-timestamp": "-1750000000"},
    {"webhook-timestamp": " 1750000000"},
    {"webhook-timestamp": "\u0661\u0667\u0665\u0660"},
    {"webhook-timestamp": "9" * 40},
    {"webhook-timestamp": "soon"},
    {"webhook-signature": "v1"},
    {"webhook-signature": "v1,"},
    {"webhook-signature": "v1,not-base64!!"},
    {"webhook-signature": "v1,\u00e9\u00e9\u00e9\u00e9"},
    {"webhook-signature": "v1,AAAA " * 100},
    {"webhook-signature": "x" * 100_000},
    {"webhook-id": "msg_\udcff"},
    {"webhook-id": 12},
    {"webhook-timestamp": 1_750_000_000},
    {"webhook-signature": b"v1,abc"},
]


@pytest.mark.parametrize("change", GARBAGE_CHANGES, ids=repr)
def test_garbage_headers_return_false(
    headers: dict[str, str], body: bytes, secret: str, now: int, change: dict[str, Any]
) -> None:
    bad = {k: v for k, v in {**headers, **change}.items() if v is not None}
    assert verify_standard_webhook(body, bad, secret, now=now) is False


@pytest.mark.parametrize("bad_headers", [None, [], "webhook-id: x", {}, {1: 2}, _Exploding()], ids=repr)
def test_garbage_header_containers_return_false(bad_headers: Any, body: bytes, secret: str, now: int) -> None:
    assert verify_standard_webhook(body, bad_headers, secret, now=now) is False


@pytest.mark.parametrize("bad_secret", ["", "whsec_", "whsec_not base64!", "whsec_\u00e9", None, b"raw"])
def test_unusable_secret_returns_false(
    headers: dict[str, str], body: bytes, now: int, bad_secret: Any
) -> None:
    assert verify_standard_webhook(body, headers, bad_secret, now=now) is False


@pytest.mark.parametrize("bad_body", [None, "text", 42])
def test_non_bytes_body_returns_false(headers: dict[str, str], secret: str, now: int, bad_body: Any) -> None:
    assert verify_standard_webhook(bad_body, headers, secret, now=now) is False


def test_random_garbage_never_raises(headers: dict[str, str], body: bytes, secret: str, now: int) -> None:
    rng = random.Random(1234)
    alphabet = "v1, .=+/-_0123456789abcdefABCDEF\u00e9\x00\n\t"
    for _ in range(2000):
        bad = dict(headers)
        name = rng.choice(["webhook-id", "webhook-timestamp", "webhook-signature"])
        bad[name] = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        assert verify_standard_webhook(body, bad, secret, now=now) is False
        assert verify_runflow_signature(body, bad[name], secret) is False


# --- Interoperability and isolation ------------------------------------------------


def test_reference_library_signatures_verify(body: bytes, secret: str) -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")

    ts = 1_750_000_123
    signature = standardwebhooks.Webhook(secret).sign(
        "msg_ref", datetime.fromtimestamp(ts, tz=UTC), body.decode()
    )
    headers = {"webhook-id": "msg_ref", "webhook-timestamp": str(ts), "webhook-signature": signature}
    assert verify_standard_webhook(body, headers, secret, now=ts)


def test_module_uses_only_the_standard_library() -> None:
    code = (
        "import sys; import pixelrun.client; "
        "heavy = {'fastapi', 'pydantic', 'sqlalchemy', 'httpx', 'torch', 'standardwebhooks'}; "
        "loaded = heavy & {m.split('.')[0] for m in sys.modules}; "
        "assert not loaded, loaded; "
        "mine = {m for m in sys.modules if m.startswith('pixelrun')}; "
        "assert mine == {'pixelrun', 'pixelrun.client', 'pixelrun.client.webhooks'}, mine"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert webhooks_module.__name__ == "pixelrun.client.webhooks"
