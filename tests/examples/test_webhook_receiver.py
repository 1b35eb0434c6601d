"""The README's receiver example, run for real against signed and tampered callbacks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pixelrun.callbacks.signing import generate_secret, runflow_signature, standard_webhook_headers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"


@pytest.fixture
def receiver() -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    secret = generate_secret()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        env={"PIXELRUN_WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("listening")
    yield f"http://127.0.0.1:{port}/", secret, process
    process.kill()
    process.wait()


def signed(body: bytes, secret: str, request_id: str = "req_1") -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Runflow-Request-Id": request_id}
    headers["Runflow-Signature"] = runflow_signature(body, [secret])
    headers.update(standard_webhook_headers("msg_1", int(time.time()), body, [secret]))
    return headers


def test_receiver_accepts_signed_callbacks_once_and_refuses_tampered_ones(
    receiver: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, secret, process = receiver
    body = json.dumps({"event": "run.completed", "run_id": "r1", "status": "succeeded"}).encode()
    assert requests.post(url, data=body, headers=signed(body, secret), timeout=5).status_code == 204
    assert (
        requests.post(url, data=body, headers=signed(body, secret), timeout=5).status_code == 204
    )  # a retry
    tampered = body.replace(b"succeeded", b"failed!!!")
    assert requests.post(url, data=tampered, headers=signed(body, secret), timeout=5).status_code == 401
    assert (
        requests.post(url, data=body, headers=signed(body, generate_secret()), timeout=5).status_code == 401
    )
    process.kill()
    output, _ = process.communicate()
    assert output.splitlines() == ["run.completed r1 succeeded"]
