"""The GPU benchmark in one command, sized to the GPU time there is (bench/gpu_run.sh runs this).

    bench/gpu_run.sh                      # the quick profile (≤ 8 min on one H100 by its estimate)
    bench/gpu_run.sh --dry-run            # the plan with its estimates; runs nothing
    bench/gpu_run.sh --list               # every chunk with its estimate
    bench/gpu_run.sh compile fp8          # other chunks, by name, if they fit the budget
    bench/gpu_run.sh --scale tiny         # the same code on a CPU with tiny weights, seconds

Before anything runs it prints the plan (each phase's estimated seconds, bench/gpu_plan.py)
and refuses a set of chunks whose estimate exceeds GPU_BUDGET_SECONDS (default 480). Then:
installs bench/wheels/ offline (full scale; `pip install --no-deps --target`, so nothing
installed on the machine changes), runs each chunk as one process of bench/gpu_engine.py
(one build per process) under what is left of the budget, interrupting it when that runs
out, and prints bench/gpu_summary.py's tables. Results go to RESULTS_DIR (default
bench/results/<scale>-<UTC time>): run.json (plan, install, each chunk's wall time and
exit), <chunk>.json (rewritten after every phase and row, so a run cut short keeps what it
measured) and <chunk>.log. The project runs from src/ (PYTHONPATH), with the interpreter
that runs this script (gpu_run.sh: $PYTHON, default python3).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gpu_summary
from gpu_plan import CHUNKS, SCALES, Chunk, Plan, engine_arguments, format_plan, headline_s

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / "bench" / "wheels"
#: Seconds an interrupted chunk gets to write its JSON and exit before it is killed.
GRACE_S = 20


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/gpu_run.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "chunks", nargs="*", metavar="CHUNK", help=f"default: quick; one of {', '.join(CHUNKS)}"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimates, run nothing"
    )
    parser.add_argument("--list", action="store_true", help="print every chunk and its estimate")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    args = parser.parse_args(argv)
    unknown = [name for name in args.chunks if name not in CHUNKS]
    if unknown:
        parser.error(f"unknown chunk(s) {', '.join(unknown)}; the chunks are: {', '.join(CHUNKS)}")
    return args


class RunRecord:
    """run.json: the plan's estimates and what happened, rewritten after every step."""

    def __init__(self, path: Path, fields: dict[str, Any]) -> None:
        self.path = path
        self.fields = {**fields, "install": None, "chunks": [], "complete": False}
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_suffix(".partial")
        staging.write_text(json.dumps(self.fields, indent=2))
        staging.replace(self.path)


def install(record: RunRecord, needs_torchao: bool) -> Path | None:
    """pip install the fetched wheels into a folder of their own; None when there are none."""
    wheels = sorted(WHEELS.glob("*.whl"))
    if not needs_torchao:
        wheels = [w for w in wheels if not w.name.startswith("torchao-")]
    if not wheels or os.environ.get("SKIP_INSTALL"):
        reason = "SKIP_INSTALL set" if os.environ.get("SKIP_INSTALL") else f"no wheels in {WHEELS}"
        print(f"install: skipped ({reason}); using the packages installed here", flush=True)
        record.fields["install"] = {"skipped": reason}
        record.write()
        return None
    target = Path(tempfile.gettempdir()) / "pixelrun-bench-site"
    started = time.monotonic()
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--upgrade"]
    completed = subprocess.run([*command, "--target", str(target), *map(str, wheels)], check=False)
    seconds = time.monotonic() - started
    record.fields["install"] = {
        "s": round(seconds, 3),
        "wheels": [w.name for w in wheels],
        "exit": completed.returncode,
    }
    record.write()
    if completed.returncode != 0:
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise SystemExit(
            f"installing {len(wheels)} wheels from {WHEELS} failed (exit {completed.returncode}); this is "
            f"Python {python}: fetch them for it with PYTHON_VERSION={python} bench/gpu_fetch_wheels.sh"
        )
    print(f"phase install: {seconds:.1f} s ({len(wheels)} wheels into {target})", flush=True)
    return target


def run_chunk(chunk: Chunk, scale: str, results: Path, site: Path | None, timeout_s: float) -> dict[str, Any]:
    """One chunk as one process, its output to the terminal and to <chunk>.log; interrupted
    (SIGINT, then killed after GRACE_S) when `timeout_s` runs out."""
    paths = [str(ROOT / "src"), str(ROOT / "bench"), *([str(site)] if site else [])]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    launched = time.time()
    command = [
        sys.executable,
        str(ROOT / "bench" / "gpu_engine.py"),
        *engine_arguments(chunk, SCALES[scale]),
        *("--label", chunk.name, "--json", str(results / f"{chunk.name}.json")),
        *("--launched-at", f"{launched:.3f}"),
    ]
    estimate = Plan((chunk,), install=False).chunk_s(chunk)
    print(f"=== {chunk.name}: estimated {estimate:.0f} s, {timeout_s:.0f} s of the budget left", flush=True)
    print(f"=== {chunk.name}: {' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    with (results / f"{chunk.name}.log").open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None

        def copy_output() -> None:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)
                log.flush()

        reader = threading.Thread(target=copy_output, daemon=True)
        reader.start()
        timed_out = False
        try:
            process.wait(timeout=max(timeout_s, 1.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            print(
                f"=== {chunk.name}: out of budget after {time.monotonic() - started:.0f} s: interrupting",
                flush=True,
            )
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
    wall = time.monotonic() - started
    print(f"=== {chunk.name}: exit {process.returncode} after {wall:.0f} s", flush=True)
    return {"name": chunk.name, "wall_s": round(wall, 3), "exit": process.returncode, "timed_out": timed_out}


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    budget_s = float(os.environ.get("GPU_BUDGET_SECONDS", "480"))
    scale = SCALES[args.scale]
    if args.list:
        for chunk in CHUNKS.values():
            plan = Plan((chunk,), install=True)
            print(f"{chunk.name:<16} {plan.total_s:5.0f} s with install   {chunk.measures}")
        return 0
    chunks = tuple(CHUNKS[name] for name in args.chunks or ["quick"])
    plan = Plan(chunks, install=scale.name == "full")
    print(format_plan(plan, budget_s, scale), flush=True)
    if plan.total_s > budget_s:
        print(
            f"refused: the estimate ({plan.total_s:.0f} s) exceeds GPU_BUDGET_SECONDS ({budget_s:.0f} s); "
            "run fewer chunks per command (bench/gpu_run.sh --list shows each one's estimate)",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        return 0

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results = Path(os.environ.get("RESULTS_DIR") or ROOT / "bench" / "results" / f"{scale.name}-{stamp}")
    started = time.monotonic()
    record = RunRecord(
        results / "run.json",
        {"scale": scale.name, "budget_s": budget_s, "started": stamp, "estimates": plan.estimates()},
    )
    print(f"results in {results}", flush=True)
    site = install(record, any(c.needs_torchao for c in chunks)) if plan.install else None
    for chunk in chunks:
        left = budget_s - (time.monotonic() - started)
        # Earlier chunks ran over their estimates: start only if the first row can still finish.
        if left < headline_s(chunk):
            print(f"=== {chunk.name}: not started, {left:.0f} s of the budget left", flush=True)
            record.fields["chunks"].append({"name": chunk.name, "exit": None, "not_started": True})
        else:
            record.fields["chunks"].append(run_chunk(chunk, scale.name, results, site, left))
        record.write()
    record.fields["complete"] = True
    record.fields["wall_s"] = round(time.monotonic() - started, 3)
    record.write()
    print()
    gpu_summary.main([str(results)])
    return 0 if all(c["exit"] == 0 for c in record.fields["chunks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
