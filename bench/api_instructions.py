"""Instructions per API request under callgrind: a measure of the API's hot paths that a
busy machine does not blur, to compare two versions of the code.

`bench/api_throughput.py` measures requests/s and CPU time against a bare FastAPI app,
which is what users feel but moves by ±30 % when other processes share the two cores.
This counts the instructions the whole process executes (valgrind's callgrind; the same
count for the same code and inputs, whatever else the machine does) for N creates, or N
polls (`GET /v1/runs/{id}` of a queued run), sent in-process through the ASGI app with
FastAPI's TestClient on a SQLite store (API and client in one process: the client's share
is the same in both versions). Each version runs three times: without requests (start-up
and warm-up only), with N polls and with N creates; the differences divided by N are
instructions per request.

    python bench/api_instructions.py --baseline-src /path/to/old/checkout/src

runs the baseline's `src` and this checkout's `src` (about 3 minutes per run under
callgrind on this 2-core machine, so ~20 minutes in all) and prints a table with the
ratio after/before. The workload uses only the public HTTP API and the store's owner and
key setup, in both of its spellings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "input": {
        "prompt": "make it blue",
        "image_urls": ["https://example.com/a.png"],
        "image_size": "1024x1024",
    }
}
CREATE_PATH = "/v1/models/alibaba/qwen-image-edit-2511/runs"
WARM_UP = 50


def workload(requests: int, kind: str) -> None:
    """In the measured process: start the app on a fresh SQLite store, warm up, send the requests."""
    from fastapi.testclient import TestClient

    from pixelrun.api import create_app
    from pixelrun.config import Settings
    from pixelrun.store import Store

    data = Path(tempfile.mkdtemp(prefix="pixelrun-instructions-"))
    store = Store(f"sqlite:///{data / 'pixelrun.db'}")
    store.migrate()
    if hasattr(store, "owners"):
        owner = store.owners.ensure("bench")
        _, key = store.keys.create(owner.id, "bench")
    else:  # the store before the repositories-as-attributes layout (its methods by name)
        owner = getattr(store, "ensure_owner")("bench")  # noqa: B009
        _, key = getattr(store, "create_api_key")(owner.id, "bench")  # noqa: B009
    settings = Settings(
        data_dir=data / "data",
        signing_secret="s" * 32,
        model_grace_seconds=-1,
        retention_hours=0,
        background_tasks=False,
    )
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, store)) as client:
        ids = [client.post(CREATE_PATH, json=BODY, headers=headers).json()["id"] for _ in range(WARM_UP)]
        for run_id in ids:
            client.get(f"/v1/runs/{run_id}", headers=headers)
        for index in range(requests):
            if kind == "create":
                response = client.post(CREATE_PATH, json=BODY, headers=headers)
                assert response.status_code == 201, response.text
            else:
                response = client.get(f"/v1/runs/{ids[index % WARM_UP]}", headers=headers)
                assert response.status_code == 200, response.text
    store.close()
    shutil.rmtree(data, ignore_errors=True)


def instructions(src: Path, requests: int, kind: str, out_dir: Path) -> int:
    """Instructions executed by one run of the workload on the code in `src`."""
    out = out_dir / f"callgrind-{abs(hash((str(src), kind, requests)))}.out"
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--workload",
        kind,
        "--requests",
        str(requests),
    ]
    subprocess.run(command, env=env, check=True, capture_output=True)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {out}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", type=Path, help="the `src` folder of the version to compare with")
    parser.add_argument("--requests", type=int, default=400, help="requests per measured run (default 400)")
    parser.add_argument("--workload", choices=["none", "create", "get"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        workload(args.requests, args.workload)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    sides = {"this checkout": ROOT / "src"}
    if args.baseline_src is not None:
        sides = {"baseline": args.baseline_src.resolve(), **sides}
    per_request: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side, src in sides.items():
            print(f"[{side}] {src}: start-up, {args.requests} polls, {args.requests} creates ...", flush=True)
            idle = instructions(src, 0, "none", Path(tmp))
            per_request[side] = {
                kind: (instructions(src, args.requests, kind, Path(tmp)) - idle) / args.requests
                for kind in ("get", "create")
            }
    print()
    print("| request | " + " | ".join(f"{side}: instructions" for side in sides) + " | ratio |")
    print("|---|" + "---|" * len(sides) + "---|")
    for kind, label in (("get", "GET /v1/runs/{id}"), ("create", "create run")):
        values = [per_request[side][kind] for side in sides]
        ratio = f"{values[-1] / values[0]:.3f}" if len(values) > 1 else "-"
        print(f"| {label} | " + " | ".join(f"{value / 1e6:.3f} M" for value in values) + f" | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
