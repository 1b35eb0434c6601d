"""Fixtures for the net tests: real HTTP servers on loopback (ephemeral ports)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

import pytest
from loopback_http import LoopbackServer, make_handler


@pytest.fixture
def serve() -> Iterator[Callable[[str], LoopbackServer]]:
    """Start servers on the given loopback address (ephemeral port); all stop at teardown."""
    started: list[tuple[ThreadingHTTPServer, LoopbackServer]] = []

    def start(host: str = "127.0.0.1") -> LoopbackServer:
        state = LoopbackServer(host)
        httpd = ThreadingHTTPServer((host, 0), make_handler(state))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        state.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append((httpd, state))
        return state

    yield start
    for httpd, state in started:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def origin(serve: Callable[[str], LoopbackServer]) -> LoopbackServer:
    return serve("127.0.0.1")


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
