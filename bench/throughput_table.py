"""The table api_throughput.py prints: one row per load and target, two per dispatch back end,
then the errors, the latency drift and the dispatch runs that did not succeed.
"""

from __future__ import annotations

import argparse

from dispatch_latency import DispatchResult
from throughput_load import LoadResult, percentile


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def print_table(loads: list[LoadResult], dispatches: list[DispatchResult], args: argparse.Namespace) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"API throughput: {args.requests} requests x {args.concurrency} clients per target "
        f"(+{args.warmup} warm-up); dispatch: {args.dispatch_runs} sequential runs, one idle worker",
        box=box.MARKDOWN,
        title_justify="left",
    )
    for name, justify in (
        ("measurement", "left"),
        ("backend", "left"),
        ("n", "right"),
        ("errors", "right"),
        ("req/s", "right"),
        ("x baseline", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("srv CPU ms/req", "right"),
        ("CPU x baseline", "right"),
        ("srv CPU", "right"),
        ("cli CPU", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for load in loads:
        table.add_row(
            load.target,
            load.backend,
            str(load.requests),
            str(sum(load.errors.values())),
            f"{load.requests_per_s:.0f}",
            "-" if load.ratio_to_baseline is None else f"{load.ratio_to_baseline:.2f}",
            _ms(load.p50_ms),
            _ms(load.p99_ms),
            "-" if load.server_cpu_ms_per_request is None else f"{load.server_cpu_ms_per_request:.2f}",
            "-" if load.cpu_ratio_to_baseline is None else f"{load.cpu_ratio_to_baseline:.2f}",
            _pct(load.server_cpu),
            _pct(load.client_cpu),
        )
    for dispatch in dispatches:
        failed = str(sum(dispatch.failed.values()))
        for label, values in (
            ("dispatch: create -> dispatching", dispatch.to_dispatching_ms),
            ("dispatch: create -> running", dispatch.to_running_ms),
        ):
            table.add_row(
                label,
                dispatch.backend,
                str(len(values)),
                failed,
                "-",
                "-",
                _ms(percentile(values, 50)),
                _ms(percentile(values, 99)),
                "-",
                "-",
                "-",
                "-",
            )
    # A fixed width so that the table is not wrapped when stdout is a pipe or a file.
    Console(width=200, no_color=True, highlight=False).print(table)
    for load in loads:
        for label, count in load.errors.items():
            print(
                f"errors: {load.target} [{load.backend}] {label} x{count}: {load.error_samples.get(label, '')}"
            )
        if load.p50_first_tenth_ms is not None and load.p50_last_tenth_ms is not None:
            print(
                f"drift: {load.target} [{load.backend}] p50 of first tenth {load.p50_first_tenth_ms:.1f} ms, "
                f"last tenth {load.p50_last_tenth_ms:.1f} ms"
            )
    for dispatch in dispatches:
        for label, count in dispatch.failed.items():
            print(f"dispatch runs not succeeded [{dispatch.backend}]: {label} x{count}")
