"""The `/metrics` counters and histograms as counted from the rows themselves (runs,
callback attempts), to compare a scrape with: the test side of docs/operations.md#the-metrics.

Counted here by plain reads and Python, independently of store/metric_totals.py (only the
bucket bounds are shared: they are the contract of the histograms)."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select

from pixelrun.store.metric_totals import DURATION_BUCKETS
from pixelrun.store.tables import callback_attempts, callback_deliveries, runs

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
#: The families these figures cover; the gauges (queue, workers) move on their own.
FAMILIES = (
    "pixelrun_runs_created_total",
    "pixelrun_runs_finished_total",
    "pixelrun_run_duration_seconds",
    "pixelrun_run_stage_duration_seconds",
    "pixelrun_transformer_passes_total",
    "pixelrun_callback_delivery_attempts_total",
)
STAGE_KEYS = {
    "queue_wait": "queue_ms",
    "input_fetch": "fetch_ms",
    "inference": "inference_ms",
    "safety": "safety_ms",
    "encode_store": "store_ms",
    "total": "total_ms",
}
TERMINAL = ("succeeded", "failed", "canceled")


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _histogram(samples: Samples, name: str, labels: dict[str, str], values: list[float]) -> None:
    key = frozenset(labels.items())
    samples[(f"{name}_count", key)] = len(values)
    samples[(f"{name}_sum", key)] = sum(values)
    for bound in DURATION_BUCKETS:
        samples[(f"{name}_bucket", key | {("le", _le(bound))})] = sum(1 for v in values if v <= bound)


def expected_figures(engine: Engine) -> Samples:
    """What the counters and histograms must read, from the rows as they are now."""
    samples: Samples = {}
    created: Counter[str] = Counter()
    finished: Counter[tuple[str, str, str]] = Counter()
    passes: Counter[str] = Counter()
    durations: dict[tuple[str, str], list[float]] = {}
    stages: dict[tuple[str, str], list[float]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                runs.c.model_id,
                runs.c.status,
                runs.c.failure_code,
                runs.c.created_at,
                runs.c.completed_at,
                runs.c.output,
            )
        ).all()
        attempts = conn.execute(
            select(
                callback_attempts.c.attempt_number,
                callback_attempts.c.status_code,
                callback_deliveries.c.status,
                callback_deliveries.c.attempt_count,
            ).join(callback_deliveries, callback_deliveries.c.id == callback_attempts.c.delivery_id)
        ).all()
    for model, status, code, created_at, completed_at, output in rows:
        created[model] += 1
        if status not in TERMINAL:
            continue
        finished[(model, status, code or "")] += 1
        durations.setdefault((model, status), []).append(max((completed_at - created_at).total_seconds(), 0))
        if status == "succeeded" and output:
            for stage, key in STAGE_KEYS.items():
                if key in (output.get("timing") or {}):
                    stages.setdefault((model, stage), []).append(output["timing"][key] / 1000)
            forwards = (output.get("model_data") or {}).get("transformer_forwards")
            if forwards is not None:
                passes[model] += forwards
    for model, count in created.items():
        samples[("pixelrun_runs_created_total", frozenset({("model", model)}))] = count
    for (model, status, code), count in finished.items():
        labels = {("model", model), ("status", status), ("failure_code", code)}
        samples[("pixelrun_runs_finished_total", frozenset(labels))] = count
    for model, count in passes.items():
        samples[("pixelrun_transformer_passes_total", frozenset({("model", model)}))] = count
    for (model, status), values in durations.items():
        _histogram(samples, "pixelrun_run_duration_seconds", {"model": model, "status": status}, values)
    for (model, stage), values in stages.items():
        _histogram(samples, "pixelrun_run_stage_duration_seconds", {"model": model, "stage": stage}, values)
    outcomes: Counter[tuple[str, str]] = Counter()
    for number, code, delivery_status, attempt_count in attempts:
        if code is not None and 200 <= code < 300:
            outcome = "succeeded"
        elif delivery_status == "failed" and number == attempt_count:
            outcome = "failed"
        else:
            outcome = "retried"
        outcomes[(outcome, str(number))] += 1
    for (outcome, number), count in outcomes.items():
        labels = {("outcome", outcome), ("attempt", number)}
        samples[("pixelrun_callback_delivery_attempts_total", frozenset(labels))] = count
    return samples


def covered(samples: Samples) -> Samples:
    """The scraped samples of FAMILIES (without prometheus-client's `_created` samples)."""
    return {
        key: value
        for key, value in samples.items()
        if key[0].startswith(FAMILIES) and not key[0].endswith("_created")
    }


def assert_figures_match_rows(scraped: Samples, engine: Engine) -> None:
    expected = expected_figures(engine)
    got = covered(scraped)
    assert set(got) == set(expected), (sorted(set(got) ^ set(expected)), got, expected)
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
        else:
            assert got[key] == value, key
