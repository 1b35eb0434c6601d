"""`/metrics` figures, read from the store at scrape time (docs/operations.md).

Why from the store and not from in-process counters: API replicas and workers run on
several machines, and each process only sees what it did itself. The store sees
everything, so every replica answers the same, complete figures for the whole fleet.

Gauges (queue depth, runs in progress, workers) are read at each scrape with indexed
queries bounded by the live runs and workers. Counters and histograms are aggregate rows
that the transactions changing runs and callback deliveries add to
(store/metric_totals.py): a scrape, the first after a restart included, reads those rows,
never the history, so its cost depends on the number of label sets, not of runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import ActiveRuns, Store
from pixelrun.store.metric_totals import (
    ATTEMPTS,
    DURATION,
    DURATION_BUCKETS,
    FINISHED,
    PASSES,
    STAGE,
    TotalRow,
)
from pixelrun.store.workers import DEFAULT_FRESH_WITHIN_SECONDS, WORKER_STATUSES

#: Workers not heard from for this long drop out of the figures.
WORKER_WINDOW_SECONDS = 24 * 3600.0
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


class StoreCollector(Collector):
    """A prometheus-client collector reading the store; one per API process."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        snapshot = self.store.metrics.snapshot()
        now = utc_now()
        totals = _Totals(snapshot.totals)
        yield from self._queue_metrics(now, snapshot.active, totals.models)
        yield from self._run_metrics(snapshot.active, totals)
        yield from self._callback_metrics(totals)
        yield from self._worker_metrics(now)

    def _queue_metrics(
        self, now: datetime, active: list[ActiveRuns], known_models: set[str]
    ) -> Iterator[Metric]:
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
        for row in active:
            if row.status == RunStatus.QUEUED.value:
                queued_models.add(row.model_id)
                depth.add_metric([row.model_id], row.count)
                oldest.add_metric([row.model_id], max((now - row.oldest_created_at).total_seconds(), 0.0))
            else:
                in_progress.add_metric([row.model_id, row.status], row.count)
        # Models with runs but an empty queue read 0, rather than vanishing from graphs.
        others = known_models | {row.model_id for row in active}
        for model in sorted(others - queued_models):
            depth.add_metric([model], 0)
            oldest.add_metric([model], 0)
        yield from (depth, oldest, in_progress)

    def _run_metrics(self, active: list[ActiveRuns], totals: _Totals) -> Iterator[Metric]:
        # Every run is either live or terminal (runs are never deleted): created = both.
        created_counts: Counter[str] = Counter()
        for row in active:
            created_counts[row.model_id] += row.count
        for (model, _status, _code), count in totals.counters(FINISHED).items():
            created_counts[model] += count
        created = CounterMetricFamily("pixelrun_runs_created", "Runs created.", labels=["model"])
        for model, count in sorted(created_counts.items()):
            created.add_metric([model], count)
        finished = CounterMetricFamily(
            "pixelrun_runs_finished",
            "Runs that reached a terminal status; failure_code is empty when the run has none.",
            labels=["model", "status", "failure_code"],
        )
        for (model, status, code), count in sorted(totals.counters(FINISHED).items()):
            finished.add_metric([model, status, code], count)
        passes = CounterMetricFamily(
            "pixelrun_transformer_passes", "Transformer forward passes of succeeded runs.", labels=["model"]
        )
        for (model, _, _), count in sorted(totals.counters(PASSES).items()):
            passes.add_metric([model], count)
        stages = HistogramMetricFamily(
            "pixelrun_run_stage_duration_seconds",
            "Time per stage of succeeded runs (from the run's timing).",
            labels=["model", "stage"],
        )
        for (model, _, stage), (buckets, total) in sorted(totals.histograms(STAGE).items()):
            stages.add_metric([model, stage], buckets, total)
        durations = HistogramMetricFamily(
            "pixelrun_run_duration_seconds",
            "Creation to terminal status, every finished run.",
            labels=["model", "status"],
        )
        for (model, status, _), (buckets, total) in sorted(totals.histograms(DURATION).items()):
            durations.add_metric([model, status], buckets, total)
        yield from (created, finished, passes, stages, durations)

    def _callback_metrics(self, totals: _Totals) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "pixelrun_callback_delivery_attempts",
            "Callback delivery attempts by outcome (succeeded, retried, failed) and attempt number.",
            labels=["outcome", "attempt"],
        )
        for (_, outcome, number), count in sorted(totals.counters(ATTEMPTS).items()):
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


Labels = tuple[str, str, str]  # model, status, label


class _Totals:
    """The aggregate rows of one scrape, grouped by metric and label set."""

    def __init__(self, rows: list[TotalRow]) -> None:
        self._rows: dict[str, dict[Labels, list[TotalRow]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            self._rows[row.key.metric][(row.key.model, row.key.status, row.key.label)].append(row)
        self.models = {model for by_labels in self._rows.values() for model, _, _ in by_labels if model}

    def counters(self, metric: str) -> dict[Labels, int]:
        return {labels: sum(row.n for row in rows) for labels, rows in self._rows.get(metric, {}).items()}

    def histograms(self, metric: str) -> dict[Labels, tuple[list[tuple[str, float]], float]]:
        """Per label set: the cumulative buckets as prometheus-client takes them, and the sum."""
        out = {}
        for labels, rows in self._rows.get(metric, {}).items():
            per_bucket = [0] * len(DURATION_BUCKETS)
            for row in rows:
                per_bucket[row.key.bucket] += row.n
            running = 0
            buckets = []
            for bound, count in zip(DURATION_BUCKETS, per_bucket, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(running)))
            out[labels] = (buckets, sum(row.total for row in rows))
        return out
