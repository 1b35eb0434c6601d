"""The tables of docs/performance.md from the files bench/gpu_run.sh writes.

    python bench/gpu_summary.py bench/results/full-20261125-101500

First one line per configuration: chunk, variant, acceleration level, references, size,
steps, s_per_cfg_step, its ratio to the lower bound (0.421 s per CFG step on an H100 at
1024² with one reference; per the run's own FLOP count for other shapes), end-to-end
seconds, end-to-end over the base `none` row's, peak GPU memory. Then every phase's
measured seconds next to bench/gpu_plan.py's estimate (from run.json), to plan the next run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HEADER = (
    "| chunk | variant | level | refs | size | steps | s/CFG step | × lower bound | e2e s | e2e / none | peak GiB |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def chunk_reports(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """(chunk name, report) of each chunk's JSON; run.json holds no rows and is left out."""
    found = []
    for path in sorted(directory.glob("*.json")):
        report = json.loads(path.read_text())
        if "rows" in report:
            found.append((report.get("label") or path.stem, report))
    return found


def rows(reports: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = []
    for label, report in reports:
        extras = []
        if report.get("attention_backend"):
            extras.append(report["attention_backend"])
        if report.get("quantize", "none") != "none":
            extras.append(report["quantize"])
        if report.get("compile_s") is not None:
            extras.append(f"compile {report['compile_s']:.0f} s")
        if report.get("group_offload"):
            extras.append("group offload")
        if not report.get("complete", True):
            extras.append("cut short")
        name = label + (f" ({', '.join(extras)})" if extras else "")
        for row in report["rows"]:
            lines.append(
                f"| {name} | {row.get('variant', 'base')} | {row['level']} | {row['references']} | "
                f"{row['size']}² | {row['steps']} | {row['s_per_cfg_step']:.3f} | "
                f"{number(row.get('step_ratio_to_lower_bound'), 2)} | {row['end_to_end_s']:.2f} | "
                f"{number(row.get('end_to_end_ratio_to_none'), 3)} | {number(row.get('peak_memory_gib'), 1)} |"
            )
    return lines


def phases(directory: Path, reports: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Measured phases next to their estimates; phases that never ran show as 'not run'."""
    run_path = directory / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else {}
    estimates = run.get("estimates", {})
    lines = ["| chunk | phase | estimate s (one H100, full scale) | measured s |", "|---|---|---:|---:|"]
    install = run.get("install") or {}
    if estimates.get("install_s") or install:
        measured = number(install.get("s"), 1) if "s" in install else install.get("skipped", "not run")
        lines.append(f"| | install | {estimates.get('install_s', 0):.0f} | {measured} |")
    walls = {c["name"]: c for c in run.get("chunks", [])}
    for label, report in reports:
        planned = estimates.get("chunks", {}).get(label, {})
        measured = {p["name"]: p["s"] for p in report.get("phases", [])}
        names = list(planned.get("phases", {})) + [n for n in measured if n not in planned.get("phases", {})]
        for name in names:
            estimate = planned.get("phases", {}).get(name)
            got = measured.get(name)
            lines.append(
                f"| {label} | {name} | {number(estimate, 0)} | {'not run' if got is None else f'{got:.1f}'} |"
            )
        wall = walls.get(label, {}).get("wall_s")
        lines.append(
            f"| {label} | **whole chunk** | {number(planned.get('total_s'), 0)} | {number(wall, 1)} |"
        )
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0])
    reports = chunk_reports(directory)
    found = rows(reports)
    if not found:
        print(f"no results in {directory}", file=sys.stderr)
        return 1
    devices = {report.get("device_name") for _, report in reports}
    print(f"Device: {', '.join(sorted(d for d in devices if d))}; results: {directory}")
    print()
    print("\n".join((*HEADER, *found)))
    print()
    print("\n".join(phases(directory, reports)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
