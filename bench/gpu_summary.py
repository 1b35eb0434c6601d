"""The table of docs/performance.md from the JSON files bench/gpu_run.sh writes.

    python bench/gpu_summary.py bench/results/NVIDIA-H100-80GB-HBM3-20261125

One line per configuration: chunk, variant, acceleration level, references, size, steps,
s_per_cfg_step, its ratio to the lower bound (0.421 s per CFG step on an H100 at 1024² with
one reference; per the run's own FLOP count for other shapes), end-to-end seconds, peak
GPU memory, and compile time where compiled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = (
    "| chunk | variant | level | refs | size | steps | s/CFG step | × lower bound | e2e s | peak GiB |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
)


def rows(directory: Path) -> list[str]:
    lines = []
    for path in sorted(directory.glob("*.json")):
        report = json.loads(path.read_text())
        label = report.get("label") or path.stem
        extras = []
        if report.get("attention_backend"):
            extras.append(report["attention_backend"])
        if report.get("quantize", "none") != "none":
            extras.append(report["quantize"])
        if report.get("compile_s") is not None:
            extras.append(f"compile {report['compile_s']:.0f} s")
        if report.get("group_offload"):
            extras.append("group offload")
        name = label + (f" ({', '.join(extras)})" if extras else "")
        for row in report["rows"]:
            ratio = row.get("step_ratio_to_lower_bound")
            memory = row.get("peak_memory_gib")
            lines.append(
                f"| {name} | {row.get('variant', 'base')} | {row['level']} | {row['references']} | "
                f"{row['size']}² | {row['steps']} | {row['s_per_cfg_step']:.3f} | "
                f"{'n/a' if ratio is None else f'{ratio:.2f}'} | {row['end_to_end_s']:.2f} | "
                f"{'n/a' if memory is None else f'{memory:.1f}'} |"
            )
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0])
    found = rows(directory)
    if not found:
        print(f"no results in {directory}", file=sys.stderr)
        return 1
    devices = {json.loads(p.read_text()).get("device_name") for p in directory.glob("*.json")}
    print(f"Device: {', '.join(sorted(d for d in devices if d))}; results: {directory}")
    print()
    print("\n".join((*HEADER, *found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
