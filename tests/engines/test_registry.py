"""The model registry: one entry per model id, read torch-free by the API, the worker and the settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID
from pixelrun.engines.registry import DEFAULT_MODEL_ID, MODELS, PACKAGES, _index, get_model, model_ids

#: What the worker reads from every model's validated input (`engines.engine.RunInput`).
RUN_INPUT_FIELDS = ("image_urls", "loras", "output_format", "sync_mode")


def test_the_registry_lists_each_model_once_in_package_order() -> None:
    assert list(MODELS) == model_ids() == [MODEL_ID, LIGHTNING_MODEL_ID]
    assert DEFAULT_MODEL_ID == MODEL_ID
    assert get_model(LIGHTNING_MODEL_ID) is MODELS[LIGHTNING_MODEL_ID] and get_model("acme/other") is None
    with pytest.raises(ValueError, match=f"model id {MODEL_ID} is registered twice"):
        _index(PACKAGES * 2)


def test_the_settings_default_serves_every_registered_model(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).models == list(MODELS)


def test_every_input_model_gives_the_worker_what_it_reads() -> None:
    for spec in MODELS.values():
        for name in RUN_INPUT_FIELDS:
            assert name in spec.input_model.model_fields or isinstance(
                getattr(spec.input_model, name, None), property
            ), f"{spec.id}: {name}"


def test_reading_the_registry_and_the_served_models_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from pixelrun.config import Settings\n"
        "from pixelrun.engines.registry import MODELS\n"
        "from pixelrun.worker.served_models import served_models\n"
        "assert served_models(Settings()) == list(MODELS)\n"
        "for spec in MODELS.values(): spec.input_model.model_json_schema()\n"
        "heavy = [name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
