"""Memory of one API process under many large request bodies (docs/security.md#limits).

`pixelrun serve --workers 0` on SQLite (the API process alone); then, one phase each:

1. bad key: --bodies clients at once each send a create with a --mib MiB body and a wrong
   key (raw sockets: each sends until the server answers and hangs up);
2. good key: the same bodies with a valid key, as JSON the server must read and parse (a
   prompt over its length limit, so each is a 422 and no run is queued);
3. uploads: --uploads local-storage upload PUTs of --upload-mib MiB at once.

The baseline is the process's own idle RSS, measured in the same run before each phase.
Per phase: answers by status, MiB the clients got through before the answer, RSS before,
peak (sampled every 20 ms from /proc) and after (1 s later), and the wall time of the
phase. --src runs another source tree (e.g. a checkout of main) for a before/after
comparison. Usage:

    .venv/bin/python bench/tenant_attacks.py [--bodies 50] [--mib 38] [--uploads 8] [--upload-mib 50]
        [--phases bad-key,good-key,uploads] [--src DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_processes import Child, free_port, pixelrun_env, wait_http

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
MIB = 1024 * 1024


@dataclass
class Phase:
    name: str
    bodies: int
    mib: int
    statuses: dict[str, int] = field(default_factory=dict)
    mib_sent_mean: float = 0.0
    rss_before_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_after_mib: float = 0.0
    seconds: float = 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def send_one(port: int, key: str, body: bytes) -> tuple[str, int]:
    """(status code or error, bytes sent before the server answered or hung up)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(
            (
                f"POST {RUNS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
        )
        view = memoryview(body)
        try:
            while sent < len(body):
                sent += sock.send(view[sent : sent + MIB])
        except OSError:
            pass  # answered and closed before the end of the body
        answer = b""
        try:
            while b"\r\n" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
        except OSError as exc:
            return type(exc).__name__, sent
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "no answer"
    return status, sent


def attack(name: str, server: Child, port: int, key: str, bodies: int, mib: int) -> Phase:
    # A JSON document the route must parse: its prompt is far over the 2,000-character limit.
    body = b'{"input": {"prompt": "' + b"x" * (mib * MIB - 64) + b'", "image_urls": ["https://e.com/a.png"]}}'
    phase = Phase(name, bodies, mib)
    time.sleep(1.0)
    phase.rss_before_mib = rss_mib(server.pid)
    started = time.monotonic()
    with PeakSampler(server.pid) as sampler, ThreadPoolExecutor(bodies) as pool:
        results = list(pool.map(lambda _: send_one(port, key, body), range(bodies)))
    phase.seconds = time.monotonic() - started
    time.sleep(1.0)
    phase.rss_peak_mib = sampler.peak
    phase.rss_after_mib = rss_mib(server.pid)
    phase.statuses = dict(Counter(status for status, _ in results))
    phase.mib_sent_mean = sum(sent for _, sent in results) / len(results) / MIB
    return phase


def put_one(url: str, body: bytes) -> tuple[str, int]:
    request = httpx.put(url, content=body, headers={"Content-Type": "image/png"}, timeout=300)
    return str(request.status_code), len(body)


def uploads(server: Child, port: int, key: str, count: int, mib: int) -> Phase:
    """`count` local-storage upload PUTs of `mib` MiB at once (each declared at that size)."""
    body = os.urandom(mib * MIB)
    urls = []
    for _ in range(count):
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/asset-uploads",
            json={"filename": "big.png", "mime_type": "image/png", "size_bytes": len(body)},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        created.raise_for_status()
        urls.append(created.json()["upload_url"])
    phase = Phase("uploads", count, mib)
    time.sleep(1.0)
    phase.rss_before_mib = rss_mib(server.pid)
    started = time.monotonic()
    with PeakSampler(server.pid) as sampler, ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda url: put_one(url, body), urls))
    phase.seconds = time.monotonic() - started
    time.sleep(1.0)
    phase.rss_peak_mib = sampler.peak
    phase.rss_after_mib = rss_mib(server.pid)
    phase.statuses = dict(Counter(status for status, _ in results))
    phase.mib_sent_mean = sum(sent for _, sent in results) / len(results) / MIB
    return phase


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bodies", type=int, default=50)
    parser.add_argument("--mib", type=int, default=38, help="body size (default 38: under the 40 MiB cap)")
    parser.add_argument("--src", type=Path, help="source tree to run (default: the one importing pixelrun)")
    parser.add_argument("--phases", default="bad-key,good-key,uploads")
    parser.add_argument("--uploads", type=int, default=8, help="parallel upload PUTs")
    parser.add_argument("--upload-mib", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tenant-attacks-") as tmp:
        data_dir = Path(tmp)
        env = pixelrun_env(data_dir, f"sqlite:///{data_dir / 'pixelrun.db'}")
        if args.src is not None:
            env["PYTHONPATH"] = str(args.src.resolve())
        port = free_port()
        argv = [sys.executable, "-m", "pixelrun.cli", "serve", "--port", str(port), "--workers", "0"]
        server = Child("serve", argv, env, data_dir / "serve.log")
        try:
            wait_http(f"http://127.0.0.1:{port}", "/v1/health", server, 120)
            deadline = time.monotonic() + 60
            while server.key is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.key, server.log_tail()
            phases = []
            for name in args.phases.split(","):
                if name == "uploads":
                    phases.append(uploads(server, port, server.key, args.uploads, args.upload_mib))
                    continue
                key = "px_wrong_key" if name == "bad-key" else server.key
                phases.append(attack(name, server, port, key, args.bodies, args.mib))
        finally:
            server.stop()

    print(f"source: {args.src or 'this checkout'}; {args.bodies} concurrent bodies of {args.mib} MiB")
    print(
        f"{'phase':<9} {'answers':<28} {'MiB sent':>9} {'RSS idle':>9} {'RSS peak':>9} {'RSS after':>10} {'s':>6}"
    )
    for phase in phases:
        answers = ", ".join(f"{count}×{status}" for status, count in sorted(phase.statuses.items()))
        print(
            f"{phase.name:<9} {answers:<28} {phase.mib_sent_mean:>9.1f} {phase.rss_before_mib:>9.0f} "
            f"{phase.rss_peak_mib:>9.0f} {phase.rss_after_mib:>10.0f} {phase.seconds:>6.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"phases": [asdict(phase) for phase in phases]}, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
