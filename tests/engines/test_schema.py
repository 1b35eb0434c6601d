"""Every rule of the input table (docs/api.md#create-run-request): a passing and a failing case each."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from pixelrun.engines.qwen_image_edit import EditInput, output_size
from pixelrun.engines.qwen_image_edit.schema import PRESETS

URL = "https://example.com/a.png"
DATA = "data:image/png;base64,iVBORw0KGgo="


def make(**fields: Any) -> EditInput:
    return EditInput.model_validate({"prompt": "edit", "image_urls": [URL], **fields})


def errors_for(**fields: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as raised:
        EditInput.model_validate({"prompt": "edit", "image_urls": [URL], **fields})
    return raised.value.errors()


def test_defaults() -> None:
    value = make()
    assert value.model_dump(mode="json") == {
        "prompt": "edit",
        "image_urls": [URL],
        "loras": [],
        "negative_prompt": "",
        "num_images": 1,
        "image_size": None,
        "num_inference_steps": 28,
        "guidance_scale": 4.5,
        "seed": None,
        "acceleration": "regular",
        "enable_safety_checker": True,
        "output_format": "png",
        "sync_mode": False,
    }


def test_preview_every_is_stored_only_when_set() -> None:
    """docs/api.md#previews: 0..50 steps; a run that does not say stores no field."""
    assert make(preview_every=2).model_dump(mode="json")["preview_every"] == 2
    assert make(preview_every=0).model_dump(mode="json")["preview_every"] == 0
    assert make(preview_every=3.0).preview_every == 3
    assert "preview_every" not in make().model_dump(mode="json")
    assert make().preview_every is None
    for bad in (-1, 51, "2", True, 1.5):
        assert errors_for(preview_every=bad)


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"prompt": "x"}, True),
        ({"prompt": "x" * 2000}, True),
        ({"prompt": ""}, False),
        ({"prompt": "   "}, False),
        ({"prompt": "x" * 2001}, False),
        ({"prompt": 5}, False),
        ({"image_urls": [URL, DATA, "http://h/x.jpg", URL]}, True),
        ({"image_urls": []}, False),
        ({"image_urls": [URL] * 5}, False),
        ({"image_urls": ["ftp://h/x.png"]}, False),
        ({"image_urls": ["data:text/plain;base64,aGk="]}, False),
        ({"image_urls": [URL + "\n", "file:///etc/passwd"]}, False),
        ({"image_urls": URL}, False),
        ({"negative_prompt": "blurry"}, True),
        ({"negative_prompt": "x" * 2001}, False),
        ({"num_images": 4}, True),
        ({"num_images": 0}, False),
        ({"num_images": 5}, False),
        ({"num_images": "2"}, False),
        ({"num_inference_steps": 1}, True),
        ({"num_inference_steps": 50}, True),
        ({"num_inference_steps": 0}, False),
        ({"num_inference_steps": 51}, False),
        ({"num_inference_steps": 2.5}, False),
        ({"guidance_scale": 1}, True),
        ({"guidance_scale": 20.0}, True),
        ({"guidance_scale": 0.99}, False),
        ({"guidance_scale": 20.5}, False),
        ({"guidance_scale": "4"}, False),
        ({"seed": 0}, True),
        ({"seed": 2**32 - 1}, True),
        ({"seed": -1}, False),
        ({"seed": 2**32}, False),
        ({"acceleration": "high"}, True),
        ({"acceleration": "max"}, False),
        ({"enable_safety_checker": False}, True),
        ({"enable_safety_checker": "no"}, False),
        ({"output_format": "webp"}, True),
        ({"output_format": "gif"}, False),
        ({"sync_mode": True}, True),
        ({"sync_mode": 1}, False),
        ({"image_size": "portrait_16_9"}, True),
        ({"image_size": "huge"}, False),
        ({"image_size": "1000x700"}, True),
        ({"image_size": {"width": 256, "height": 2048}}, True),
        ({"image_size": {"width": 255, "height": 512}}, False),
        ({"image_size": {"width": 512, "height": 2049}}, False),
        ({"image_size": "100x100"}, False),
        ({"image_size": {"width": 512}}, False),
        ({"image_size": {"width": 512, "height": 512, "depth": 3}}, False),
        ({"image_size": 1024}, False),
        ({"unknown_field": 1}, False),
    ],
)
def test_rule(fields: dict[str, Any], ok: bool) -> None:
    if ok:
        make(**fields)
    else:
        errors = errors_for(**fields)
        assert errors and all(error["msg"] for error in errors)


def test_custom_sizes_snap_down_to_multiples_of_16() -> None:
    assert make(image_size="1000x700").requested_size == (992, 688)
    assert make(image_size={"width": 271, "height": 2047}).requested_size == (256, 2032)
    assert make(image_size=" 512 X 300 ").requested_size == (512, 288)
    assert make(image_size="1000x700").model_dump(mode="json")["image_size"] == {"width": 992, "height": 688}


def test_presets() -> None:
    assert {name: make(image_size=name).requested_size for name in PRESETS} == {
        "square_hd": (1024, 1024),
        "square": (512, 512),
        "portrait_4_3": (768, 1024),
        "portrait_16_9": (576, 1024),
        "landscape_4_3": (1024, 768),
        "landscape_16_9": (1024, 576),
    }


def test_default_size_follows_the_last_image() -> None:
    assert output_size(None, (4000, 3000)) == (1184, 896)
    assert output_size(None, (512, 512)) == (1024, 1024)
    assert output_size((992, 688), (10, 10)) == (992, 688)


def test_error_messages_say_what_to_fix() -> None:
    (error,) = errors_for(image_urls=[URL, "ftp://x"])
    assert error["loc"] == ("image_urls",) and "image_urls[1]" in error["msg"] and "http" in error["msg"]
    messages = " ".join(error["msg"] for error in errors_for(image_size="wide"))
    assert "square_hd" in messages and "WIDTHxHEIGHT" in messages
    (error,) = errors_for(unknown_field=1)
    assert error["type"] == "extra_forbidden" and error["loc"] == ("unknown_field",)


def test_the_schema_module_does_not_import_torch() -> None:
    code = (
        "import sys, pixelrun.engines.qwen_image_edit as m; m.EditInput.model_json_schema(); "
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_whole_floats_are_integers() -> None:
    # JSON (and JSON Schema) has one number type: 2.0 is the integer 2 (found by schemathesis).
    parsed = EditInput.model_validate(
        {
            "prompt": "x",
            "image_urls": ["https://e.com/a.png"],
            "num_images": 2.0,
            "seed": 7.0,
            "num_inference_steps": 3.0,
            "image_size": {"width": 512.0, "height": 256.0},
        }
    )
    assert (parsed.num_images, parsed.seed, parsed.num_inference_steps) == (2, 7, 3)
    assert parsed.requested_size == (512, 256)
    with pytest.raises(ValidationError):
        EditInput.model_validate({"prompt": "x", "image_urls": ["https://e.com/a.png"], "num_images": 1.5})
