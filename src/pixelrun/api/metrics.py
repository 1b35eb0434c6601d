"""`/metrics` figures, derived from the store at scrape time (docs/operations.md).

Why from the store and not from in-process counters: API replicas and workers run on
several machines, and each process only sees what it did itself. The store sees
everything, so every replica answers the same, complete figures for the whole fleet.

Gauges (queue depth, workers) are read at each scrape. Counters and histograms are
folded in incrementally: each scrape reads only the rows created or finished since the
previous one (with an overlap that absorbs clocks a little apart and late commits; rows
already counted are remembered by id for the length of the overlap). The first scrape of
a process reads the history once, so a restarted or added replica starts from the same
totals as the others instead of from zero.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import CallbackAttempt, CreatedRun, FinishedRun, Store
from pixelrun.store.metrics import PAGE_SIZE
from pixelrun.store.workers import DEFAULT_FRESH_WITHIN_SECONDS, WORKER_STATUSES

#: Rows this much older than the newest one seen are read again (and skipped by id).
OVERLAP = timedelta(minutes=5)
#: Workers not heard from for this long drop out of the figures.
WORKER_WINDOW_SECONDS = 24 * 3600.0
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"),
)  # fmt: skip
#: Stage histogram label → key of the run output's `timing` (milliseconds).
STAGES: dict[str, str] = {
    "queue_wait": "queue_ms",
    "input_fetch": "fetch_ms",
    "inference": "inference_ms",
    "safety": "safety_ms",
    "encode_store": "store_ms",
    "total": "total_ms",
}
#: workers.info key → (metric name, help).
WORKER_FIGURES: dict[str, tuple[str, str]] = {
    "gpu_memory_allocated_bytes": (
        "pixelrun_worker_gpu_memory_allocated_bytes",
        "GPU memory held by tensors after the worker's last run (absent on CPU).",
    ),
    "gpu_memory_peak_bytes": (
        "pixelrun_worker_gpu_memory_peak_bytes",
        "Peak GPU memory held by tensors since the worker started (absent on CPU).",
    ),
    "model_load_seconds": ("pixelrun_worker_model_load_seconds", "Time the worker took to load the model."),
    "compile_warmup_seconds": (
        "pixelrun_worker_compile_warmup_seconds",
        "Time the worker spent compiling and warming the model up (absent when it does not compile).",
    ),
}


class _Row(Protocol):
    @property
    def id(self) -> Any: ...


R = TypeVar("R", bound=_Row)


@dataclass
class _Tail(Generic[R]):
    """Reads the rows of one table added since the last call, each row once."""

    read_page: Callable[[datetime | None, tuple[datetime, Any] | None], Sequence[R]]
    time_of: Callable[[R], datetime]
    newest: datetime | None = None
    seen: dict[Any, datetime] = field(default_factory=dict)

    def new_rows(self) -> Iterator[R]:
        since = self.newest - OVERLAP if self.newest is not None else None
        last: tuple[datetime, Any] | None = None
        while True:
            page = self.read_page(since, last)
            for row in page:
                at = self.time_of(row)
                if row.id in self.seen:
                    continue
                self.seen[row.id] = at
                if self.newest is None or at > self.newest:
                    self.newest = at
                yield row
            if len(page) < PAGE_SIZE:
                break
            last = (self.time_of(page[-1]), page[-1].id)
        if self.newest is not None:
            cutoff = self.newest - OVERLAP
            self.seen = {key: at for key, at in self.seen.items() if at >= cutoff}


class _Histogram:
    def __init__(self) -> None:
        self.buckets = [0] * len(DURATION_BUCKETS)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        for index, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1
                return

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        out = []
        for bound, count in zip(DURATION_BUCKETS, self.buckets, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(running)))
        return out


class StoreCollector(Collector):
    """A prometheus-client collector reading the store; one per API process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._created: Counter[str] = Counter()
        self._finished: Counter[tuple[str, str, str]] = Counter()
        self._passes: Counter[str] = Counter()
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._stages: dict[tuple[str, str], _Histogram] = {}
        self._durations: dict[tuple[str, str], _Histogram] = {}
        repo = store.metrics
        self._created_tail: _Tail[CreatedRun] = _Tail(repo.created_page, lambda r: r.created_at)
        self._finished_tail: _Tail[FinishedRun] = _Tail(repo.finished_page, lambda r: r.completed_at)
        self._attempts_tail: _Tail[CallbackAttempt] = _Tail(repo.attempts_page, lambda r: r.created_at)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            self._fold()
            now = utc_now()
            yield from self._queue_metrics(now)
            yield from self._run_metrics()
            yield from self._callback_metrics()
            yield from self._worker_metrics(now)

    def _fold(self) -> None:
        for created in self._created_tail.new_rows():
            self._created[created.model_id] += 1
        for run in self._finished_tail.new_rows():
            self._fold_finished(run)
        for attempt in self._attempts_tail.new_rows():
            self._attempts[(attempt.outcome, str(attempt.attempt_number))] += 1

    def _fold_finished(self, run: FinishedRun) -> None:
        model = run.model_id
        self._finished[(model, run.status, run.failure_code or "")] += 1
        total = (run.completed_at - run.created_at).total_seconds()
        self._durations.setdefault((model, run.status), _Histogram()).observe(max(total, 0.0))
        if run.status != RunStatus.SUCCEEDED.value or not run.output:
            return
        timing = run.output.get("timing") or {}
        for stage, key in STAGES.items():
            value = timing.get(key)
            if isinstance(value, int | float):
                self._stages.setdefault((model, stage), _Histogram()).observe(max(value, 0) / 1000)
        passes = (run.output.get("model_data") or {}).get("transformer_forwards")
        if isinstance(passes, int):
            self._passes[model] += passes

    def _queue_metrics(self, now: datetime) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "pixelrun_queue_depth", "Runs waiting in the queue (status queued).", labels=["model"]
        )
        oldest = GaugeMetricFamily(
            "pixelrun_queue_oldest_age_seconds",
            "Age of the oldest queued run (0 when the queue is empty).",
            labels=["model"],
        )
        in_progress = GaugeMetricFamily(
            "pixelrun_runs_in_progress",
            "Runs held by a worker (dispatching, running).",
            labels=["model", "status"],
        )
        queued_models: set[str] = set()
        for row in self.store.metrics.active_runs():
            if row.status == RunStatus.QUEUED.value:
                queued_models.add(row.model_id)
                depth.add_metric([row.model_id], row.count)
                oldest.add_metric([row.model_id], max((now - row.oldest_created_at).total_seconds(), 0.0))
            else:
                in_progress.add_metric([row.model_id, row.status], row.count)
        # Models with runs but an empty queue read 0, rather than vanishing from graphs.
        for model in set(self._created) - queued_models:
            depth.add_metric([model], 0)
            oldest.add_metric([model], 0)
        yield from (depth, oldest, in_progress)

    def _run_metrics(self) -> Iterator[Metric]:
        created = CounterMetricFamily("pixelrun_runs_created", "Runs created.", labels=["model"])
        for model, count in sorted(self._created.items()):
            created.add_metric([model], count)
        finished = CounterMetricFamily(
            "pixelrun_runs_finished",
            "Runs that reached a terminal status; failure_code is empty when the run has none.",
            labels=["model", "status", "failure_code"],
        )
        for (model, status, code), count in sorted(self._finished.items()):
            finished.add_metric([model, status, code], count)
        passes = CounterMetricFamily(
            "pixelrun_transformer_passes", "Transformer forward passes of succeeded runs.", labels=["model"]
        )
        for model, count in sorted(self._passes.items()):
            passes.add_metric([model], count)
        stages = HistogramMetricFamily(
            "pixelrun_run_stage_duration_seconds",
            "Time per stage of succeeded runs (from the run's timing).",
            labels=["model", "stage"],
        )
        for (model, stage), histogram in sorted(self._stages.items()):
            stages.add_metric([model, stage], histogram.cumulative(), histogram.total)
        durations = HistogramMetricFamily(
            "pixelrun_run_duration_seconds",
            "Creation to terminal status, every finished run.",
            labels=["model", "status"],
        )
        for (model, status), histogram in sorted(self._durations.items()):
            durations.add_metric([model, status], histogram.cumulative(), histogram.total)
        yield from (created, finished, passes, stages, durations)

    def _callback_metrics(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "pixelrun_callback_delivery_attempts",
            "Callback delivery attempts by outcome (succeeded, retried, failed) and attempt number.",
            labels=["outcome", "attempt"],
        )
        for (outcome, number), count in sorted(self._attempts.items()):
            attempts.add_metric([outcome, number], count)
        yield attempts

    def _worker_metrics(self, now: datetime) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "pixelrun_workers",
            "Workers heard from in the last day, by state; 'unresponsive': no heartbeat for "
            f"{DEFAULT_FRESH_WITHIN_SECONDS:.0f} s.",
            labels=["state"],
        )
        age = GaugeMetricFamily(
            "pixelrun_worker_heartbeat_age_seconds",
            "Seconds since the worker's last heartbeat (workers not stopped).",
            labels=["worker", "name"],
        )
        figures = {
            key: GaugeMetricFamily(name, help_text, labels=["worker", "name", "device"])
            for key, (name, help_text) in WORKER_FIGURES.items()
        }
        counts: Counter[str] = Counter()
        for worker in self.store.metrics.recent_workers(WORKER_WINDOW_SECONDS):
            seconds = max((now - worker.heartbeat_at).total_seconds(), 0.0)
            state = worker.status
            if state not in ("stopped", "failed") and seconds > DEFAULT_FRESH_WITHIN_SECONDS:
                state = "unresponsive"
            counts[state] += 1
            if worker.status in ("stopped", "failed"):
                continue
            age.add_metric([worker.id, worker.name], seconds)
            info = worker.info or {}
            for key, family in figures.items():
                value = info.get(key)
                if isinstance(value, int | float):
                    family.add_metric([worker.id, worker.name, worker.device], float(value))
        for state in sorted(WORKER_STATUSES | {"unresponsive"}):
            states.add_metric([state], counts.get(state, 0))
        yield from (states, age, *figures.values())
