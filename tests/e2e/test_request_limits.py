"""Bodies against a real `pixelrun serve` (docs/security.md#limits): a wrong key is refused
from the headers before the body is read, a body over the cap is refused as soon as it is
passed, and a body that trickles in is dropped after the read timeout."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .server import Server, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
MIB = 1024 * 1024
READ_TIMEOUT_SECONDS = 2


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An API process alone (no worker), with a short body read timeout."""
    data_dir = tmp_path_factory.mktemp("limits")
    server = Server(
        data_dir,
        f"sqlite:///{data_dir / 'pixelrun.db'}",
        workers=0,
        PIXELRUN_BODY_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT_SECONDS),
    ).start()
    try:
        server.wait_key()
        server.wait_ready(need_worker=False)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An API process that holds at most 4 connections."""
    data_dir = tmp_path_factory.mktemp("crowded")
    server = Server(
        data_dir, f"sqlite:///{data_dir / 'pixelrun.db'}", workers=0, PIXELRUN_MAX_CONNECTIONS="4"
    ).start()
    try:
        server.wait_key()
        server.wait_ready(need_worker=False)
        yield server
    finally:
        server.stop()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_request(server: Server, key: str, length: int, chunked: bool = False) -> socket.socket:
    """Headers of a create with a `length`-byte body, and nothing of the body yet."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    sock.sendall(
        (
            f"POST {RUNS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n"
        ).encode()
    )
    return sock


def send_body(sock: socket.socket, length: int) -> int:
    """Send up to `length` bytes; how many went before the server closed the connection."""
    sent, block = 0, b"x" * MIB
    try:
        while sent < length:
            sent += sock.send(block[: length - sent])
    except OSError:
        pass  # the server answered and closed: the rest is not read
    return sent


def read_answer(sock: socket.socket) -> bytes:
    """The response until the server closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    finally:
        sock.close()
    return data


def test_a_wrong_key_is_refused_before_the_body_and_memory_stays_flat(api: Server) -> None:
    before = rss_bytes(api.pid)
    answers = []
    for _ in range(8):  # 8 × 39 MiB: 312 MiB if the bodies were read
        sock = open_request(api, "px_wrong", 39 * MIB)
        sent = send_body(sock, 39 * MIB)
        answers.append((sent, read_answer(sock)))
    after = rss_bytes(api.pid)
    for sent, answer in answers:
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b'"UNAUTHORIZED"' in answer
        assert sent < 39 * MIB  # the server hung up before the body was through
    assert after - before < 64 * MIB, (before, after)


def test_an_oversized_chunked_body_is_413_as_soon_as_the_cap_is_passed(api: Server) -> None:
    key = api.wait_key()
    sock = open_request(api, key, 0, chunked=True)
    chunk = b"x" * MIB
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    try:
        for _ in range(200):  # 200 MiB offered against the 40 MiB cap
            sock.sendall(frame)
            sent += len(chunk)
    except OSError:
        pass
    answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 200 * MIB


def test_a_trickling_body_is_dropped_after_the_read_timeout(api: Server) -> None:
    key = api.wait_key()
    # The body is given the timeout plus a second per MiB: a small one, so the test is short.
    sock = open_request(api, key, 1000)
    sock.sendall(b'{"input": {"prompt": "')  # then nothing more
    sock.settimeout(READ_TIMEOUT_SECONDS * 15)
    answer = read_answer(sock)  # raises nothing: the server closes the connection itself
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"REQUEST_TIMEOUT"' in answer


def test_parallel_uploads_are_streamed_to_disk_not_held_in_memory(api: Server) -> None:
    key = api.wait_key()
    size = 50 * MIB
    data = os.urandom(size)
    urls = []
    for _ in range(8):
        response = requests.post(
            f"{api.base_url}/v1/asset-uploads",
            json={"filename": "big.png", "mime_type": "image/png", "size_bytes": size},
            headers=api.headers(key),
            timeout=10,
        )
        assert response.status_code == 201, response.text
        urls.append(response.json()["upload_url"])
    before = rss_bytes(api.pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_bytes(api.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda url: (
                        requests.put(
                            url, data=data, headers={"Content-Type": "image/png"}, timeout=120
                        ).status_code
                    ),
                    urls,
                )
            )
    finally:
        done.set()
        sampler.join()
    assert statuses == [200] * 8
    # 8 × 50 MiB = 400 MiB if the bodies were held; streamed, a few MiB of buffers.
    assert peak - before < 100 * MIB, (before, peak)


def test_open_connections_are_bounded(crowded: Server) -> None:
    def health() -> bytes:
        with socket.create_connection(("127.0.0.1", crowded.port), timeout=30) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return read_answer(sock)

    idle = [socket.create_connection(("127.0.0.1", crowded.port), timeout=30) for _ in range(3)]
    try:
        # Three held connections and this one make four: the limit, so it is refused at once.
        assert health().startswith(b"HTTP/1.1 503"), "over the limit"
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: health().startswith(b"HTTP/1.1 200"), timeout=30)
