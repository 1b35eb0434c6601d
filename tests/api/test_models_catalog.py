"""The catalog itself: entries, wire form and the credit estimate."""

from __future__ import annotations

from pixelrun.api.models_catalog import CATALOG, get_catalog_model
from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID, EditInput, LightningEditInput

from .conftest import valid_input


def test_catalog_serves_qwen_image_edit_2511_and_its_lightning_variant() -> None:
    assert list(CATALOG) == [MODEL_ID, LIGHTNING_MODEL_ID]
    model = get_catalog_model(MODEL_ID)
    assert model is not None and model.input_model is EditInput
    lightning = get_catalog_model(LIGHTNING_MODEL_ID)
    assert lightning is not None and lightning.input_model is LightningEditInput
    defaults = LightningEditInput.model_validate(valid_input())
    assert (defaults.num_inference_steps, defaults.guidance_scale, defaults.acceleration) == (8, 1.0, "none")
    assert get_catalog_model("nope") is None


def test_loras_are_checked_at_create() -> None:
    """Up to 3 adapters, each an http(s) URL with a scale in 0..4 (docs/loras.md)."""
    import pytest
    from pydantic import ValidationError

    lora = {"path": "https://example.com/style.safetensors"}
    parsed = EditInput.model_validate(valid_input(loras=[lora, {**lora, "scale": 0.5}]))
    assert [item.scale for item in parsed.loras] == [1.0, 0.5]
    for bad in ([lora] * 4, [{**lora, "scale": 4.5}], [{"path": "file:///etc/passwd"}], [{"scale": 1}]):
        with pytest.raises(ValidationError):
            LightningEditInput.model_validate(valid_input(loras=bad))


def test_estimate_uses_the_requested_size_or_one_megapixel() -> None:
    model = CATALOG[MODEL_ID]
    # 1024x1024 at 0.03 USD/MP = 0.03145728 USD: 31 458 micro-dollars, rounded up.
    assert model.estimate_micros(EditInput.model_validate(valid_input())) == 31_458
    # 512x512: 0.00786432 USD.
    assert model.estimate_micros(EditInput.model_validate(valid_input(image_size="square"))) == 7_865
    four = EditInput.model_validate(valid_input(image_size="square_hd", num_images=4))
    assert model.estimate_micros(four) == 125_830
    big = EditInput.model_validate(valid_input(image_size={"width": 2048, "height": 2048}))
    assert model.estimate_micros(big) == 125_830


def test_wire_form_reports_availability() -> None:
    model = CATALOG[MODEL_ID]
    assert model.to_wire(workers_ready=0).availability.available is False
    wire = model.to_wire(workers_ready=2)
    assert wire.availability.workers_ready == 2 and wire.availability.available is True
    assert wire.pricing.price == "0.03"
    assert wire.input_schema["title"] == "QwenImageEdit2511Input"
