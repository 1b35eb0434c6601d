"""`PIXELRUN_MODELS` / `--models`: which registered models a worker serves."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from pixelrun.config import Settings
from pixelrun.engines.engine import Engine
from pixelrun.engines.registry import DEFAULT_MODEL_ID, MODELS
from pixelrun.worker.served_models import served_models


def test_every_registered_model_by_default_each_once_and_unknown_ones_refused(tmp_path: Path) -> None:
    assert served_models(Settings(data_dir=tmp_path)) == list(MODELS)
    twice = f"{DEFAULT_MODEL_ID}, {DEFAULT_MODEL_ID}"
    assert served_models(Settings(data_dir=tmp_path, models=twice)) == [DEFAULT_MODEL_ID]
    with pytest.raises(ValueError, match="acme/other not served by this engine; choose from "):
        served_models(Settings(data_dir=tmp_path, models="acme/other"))
    with pytest.raises(ValueError, match=r"\(empty\) not served"):
        served_models(Settings(data_dir=tmp_path, models="[]"))


def test_one_worker_serves_the_models_of_one_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def another_engine(settings: Settings, models: Sequence[str]) -> Engine:
        raise AssertionError("served_models never loads an engine")

    other = dataclasses.replace(MODELS[DEFAULT_MODEL_ID], id="acme/other", load_engine=another_engine)
    monkeypatch.setitem(MODELS, other.id, other)
    assert served_models(Settings(data_dir=tmp_path, models=other.id)) == [other.id]
    with pytest.raises(ValueError, match="are served by different engines; start one worker for each"):
        served_models(Settings(data_dir=tmp_path, models=[DEFAULT_MODEL_ID, other.id]))
