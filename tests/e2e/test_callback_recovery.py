"""A callback pending when the API process dies is delivered exactly once after a restart."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from pathlib import Path
from typing import Any

import requests

from pixelrun.store import Store

from .conftest import png_bytes
from .server import Server, Worker, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()


class Receiver:
    """A webhook receiver on loopback that answers `status` and records every request."""

    def __init__(self) -> None:
        self.status = 500
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = outer.status
                outer.received.append({"headers": dict(self.headers), "body": body, "answer": answer})
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_pending_callback_survives_an_api_crash(database_url: str, data_dir: Path) -> None:
    receiver = Receiver()
    server = Server(data_dir, database_url, workers=0).start()
    key = server.wait_key()
    server.wait_ready(need_worker=False)
    worker = Worker(data_dir, database_url, "w1").start()
    restarted = None
    try:
        body = {
            "input": {
                "prompt": "x",
                "image_urls": [IMAGE],
                "image_size": "256x256",
                "num_inference_steps": 1,
            },
            "callback_url": receiver.url,
            "metadata": {"order": 42},
        }
        response = requests.post(server.base_url + RUNS, json=body, headers=server.headers(), timeout=10)
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]

        store = Store(database_url)

        def first_attempt_recorded() -> bool:
            deliveries = store.callbacks.deliveries(run_id)
            return bool(deliveries) and deliveries[0].attempt_count >= 1

        wait_for(first_attempt_recorded, timeout=120)
        server.kill()  # SIGKILL: no chance to finish anything
        receiver.status = 200
        time.sleep(2.5)  # the retry falls due while no API process runs
        assert len(receiver.received) == 1

        restarted = Server(data_dir, database_url, workers=0, port=server.port).start()
        restarted.key = key
        restarted.wait_ready(need_worker=False)
        wait_for(lambda: any(entry["answer"] == 200 for entry in receiver.received), timeout=30)
        time.sleep(3)  # anything sent twice would arrive by now

        answers = [entry["answer"] for entry in receiver.received]
        assert answers == [500, 200]
        assert len({entry["body"] for entry in receiver.received}) == 1
        assert len({entry["headers"]["Runflow-Request-Id"] for entry in receiver.received}) == 1
        history = requests.get(
            f"{restarted.base_url}/v1/runs/{run_id}/callback", headers=restarted.headers(), timeout=10
        ).json()
        assert len(history) == 1 and history[0]["status_code"] == "succeeded"
        assert [attempt["status_code"] for attempt in history[0]["attempts"]] == [500, 200]
        assert history[0]["payload"]["metadata"] == {"order": 42}
        store.close()
    finally:
        receiver.close()
        for process in (worker, restarted, server):
            if process is not None:
                process.stop()
