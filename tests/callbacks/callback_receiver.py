"""A real callback receiver on a loopback port: answers from a script, records every request."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    wall: float  # time.time() then
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Receiver:
    """`statuses` are answered in order, then `default_status`. `hold` makes the next
    `hold_count` requests wait (up to 10 s) until `release` is set (a slow receiver)."""

    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    location: str | None = None
    hold_count: int = 0
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    delay: float = 0.0
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _next(self, received: Received) -> tuple[int, bool]:
        with self._lock:
            self.requests.append(received)
            status = self.statuses.pop(0) if self.statuses else self.default_status
            hold = self.hold_count > 0
            if hold:
                self.hold_count -= 1
        self.arrived.set()
        return status, hold

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, hold = receiver._next(
                    Received(time.monotonic(), time.time(), self.path, headers, body)
                )
                if hold:
                    receiver.release.wait(10)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    if receiver.location and 300 <= status < 400:
                        self.send_header("Location", receiver.location)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"{}")

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@contextlib.contextmanager
def receiving(**kwargs: object) -> Iterator[Receiver]:
    receiver = Receiver(**kwargs).start()  # type: ignore[arg-type]
    try:
        yield receiver
    finally:
        receiver.stop()
