"""Loopback HTTP servers and a fake resolver for the net tests (imported by conftest and tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

PNG_BODY = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """A threaded HTTP server whose routes exercise the client; it records every request."""

    host: str
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"


def make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # bodies without Content-Length end at close

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))

        def _send(self, status: int, body: bytes = b"", ctype: str = "image/png", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._record()
            # The client aborts some responses on purpose (cap, timeout).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route()

        def do_POST(self) -> None:
            self.do_GET()

        def _route(self) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            if path == "/img":
                self._send(200, PNG_BODY)
            elif path == "/img-params":
                self._send(200, PNG_BODY, ctype="IMAGE/PNG; charset=binary")
            elif path == "/html":
                self._send(200, b"<html></html>", ctype="text/html")
            elif path == "/no-type":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(PNG_BODY)
            elif path == "/big":  # honest Content-Length over the cap
                self._send(200, b"\x00" * 300_000)
            elif path == "/big-stream":  # no Content-Length: only counting can stop it
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                for _ in range(200):
                    self.wfile.write(b"\x00" * 16_384)
            elif path == "/lying-length":  # claims small, sends more
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b"\x00" * 500_000)
            elif path == "/short-body":  # promises more than it sends, then closes
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\x00" * 10)
            elif path.startswith("/redirect/"):
                left = int(path.rsplit("/", 1)[1])
                # /redirect/N answers with exactly N redirects before the image.
                self._send(302, Location="/img" if left <= 1 else f"/redirect/{left - 1}")
            elif path == "/to":
                self._send(int(query.get("status", ["302"])[0]), Location=query["url"][0])
            elif path == "/redirect-no-location":
                self._send(302)
            elif path == "/slow":
                server.release.wait(5)
                self._send(200, PNG_BODY)
            elif path == "/drip":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                for _ in range(50):
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    if server.release.wait(0.1):
                        break
            elif path.startswith("/status/"):
                self._send(int(path.rsplit("/", 1)[1]), b"nope", ctype="text/plain")
            elif path == "/cb/302":
                self._send(302, Location="/cb/200")
            elif path.startswith("/cb/"):
                self._send(int(path.rsplit("/", 1)[1]), b"{}", ctype="application/json")
            else:
                self._send(404, b"not found", ctype="text/plain")

    return Handler


class FakeResolver:
    """Names → addresses; unknown names fail like DNS does. Counts lookups (rebinding tests)."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        try:
            return self.table[host]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
