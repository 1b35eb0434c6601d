"""A minimal Pixelrun callback receiver: verifies the signature, then handles the event.

    PIXELRUN_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py [PORT]

Uses only the standard library and `pixelrun.client` (which has no server dependency).
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from pixelrun.client import verify_runflow_signature, verify_standard_webhook

SECRET = os.environ["PIXELRUN_WEBHOOK_SECRET"]
seen: set[str] = set()  # Runflow-Request-Id of deliveries already handled (retries resend them)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the raw bytes are signed
        signed = verify_runflow_signature(body, self.headers.get("Runflow-Signature", ""), SECRET)
        fresh = verify_standard_webhook(body, dict(self.headers), SECRET)  # also checks the timestamp
        if not (signed and fresh):
            self.send_response(401)
            self.end_headers()
            return
        request_id = self.headers["Runflow-Request-Id"]
        if request_id not in seen:
            seen.add(request_id)
            event = json.loads(body)
            print(event["event"], event["run_id"], event["status"], flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = HTTPServer(("127.0.0.1", port), Receiver)  # bound before it says so
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()
