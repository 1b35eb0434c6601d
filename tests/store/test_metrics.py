"""The store-derived metrics: paging through rows, each row counted once across scrapes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pixelrun.api import metrics as metrics_module
from pixelrun.api.metrics import StoreCollector
from pixelrun.runs import RunStatus
from pixelrun.store import NewRun, Store
from pixelrun.store import metrics as metrics_repo

MODEL = "alibaba/qwen-image-edit-2511"


def scrape(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def finish(store: Store, status: RunStatus, output: dict | None = None, code: str | None = None) -> None:
    run = store.queue.claim("w1", [MODEL], 30)
    assert run is not None
    store.queue.mark_running(run.id, run.attempt, "w1")
    store.queue.finish(run.id, run.attempt, "w1", status, output=output, failure_code=code)


def test_counts_every_row_once_across_pages_and_scrapes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_repo, "PAGE_SIZE", 2)
    monkeypatch.setattr(metrics_module, "PAGE_SIZE", 2)
    owner = store.owners.ensure("metrics")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    output = {"timing": {"inference_ms": 1500, "queue_ms": 20}, "model_data": {"transformer_forwards": 7}}

    for _ in range(5):
        store.runs.create(NewRun(owner.id, MODEL, {"prompt": "x"}))
    finish(store, RunStatus.SUCCEEDED, output)
    finish(store, RunStatus.FAILED, code="inference_failed")
    first = scrape(registry)
    assert first[("pixelrun_runs_created_total", frozenset({("model", MODEL)}))] == 5
    assert first[("pixelrun_queue_depth", frozenset({("model", MODEL)}))] == 3
    assert first[("pixelrun_queue_oldest_age_seconds", frozenset({("model", MODEL)}))] >= 0
    succeeded = frozenset({("model", MODEL), ("status", "succeeded"), ("failure_code", "")})
    failed = frozenset({("model", MODEL), ("status", "failed"), ("failure_code", "inference_failed")})
    assert first[("pixelrun_runs_finished_total", succeeded)] == 1
    assert first[("pixelrun_runs_finished_total", failed)] == 1
    inference = frozenset({("model", MODEL), ("stage", "inference")})
    assert first[("pixelrun_run_stage_duration_seconds_sum", inference)] == 1.5
    assert first[("pixelrun_run_stage_duration_seconds_bucket", inference | {("le", "1.0")})] == 0
    assert first[("pixelrun_run_stage_duration_seconds_bucket", inference | {("le", "2.5")})] == 1
    assert first[("pixelrun_transformer_passes_total", frozenset({("model", MODEL)}))] == 7

    # A second scrape re-reads the overlap window but counts nothing twice.
    second = scrape(registry)
    assert second[("pixelrun_runs_created_total", frozenset({("model", MODEL)}))] == 5
    assert second[("pixelrun_runs_finished_total", succeeded)] == 1

    finish(store, RunStatus.SUCCEEDED, output)
    third = scrape(registry)
    assert third[("pixelrun_runs_finished_total", succeeded)] == 2
    assert third[("pixelrun_transformer_passes_total", frozenset({("model", MODEL)}))] == 14
    assert third[("pixelrun_queue_depth", frozenset({("model", MODEL)}))] == 2

    # Another replica (a fresh collector) reads the same totals from the store.
    replica = CollectorRegistry(auto_describe=False)
    replica.register(StoreCollector(store))
    fresh = scrape(replica)
    for key in (
        ("pixelrun_runs_finished_total", succeeded),
        ("pixelrun_runs_created_total", frozenset({("model", MODEL)})),
    ):
        assert fresh[key] == third[key]
