"""Input and output of `alibaba/qwen-image-edit-2511` (docs/api.md#create-run-request), without torch.

The API process validates requests with this module and never imports torch; the
worker maps the same objects onto the diffusers pipeline.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from pixelrun.engines.input_rules import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    NO_NUL_PATTERN,
    PROMPT_PATTERN,
    Acceleration,
    OutputFormat,
    whole_float_to_int,
)
from pixelrun.runs.assets import resolve_asset_url

MAX_IMAGES = 4
MIN_SIDE = 256
MAX_SIDE = 2048
SIDE_MULTIPLE = 16
MAX_LORAS = 3
MAX_LORA_SCALE = 4.0


ImageSizePreset = Literal[
    "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"
]

#: width, height of each preset.
PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

# Patterns of the URL fields (see `input_rules` for the shared ones).
# Asset URLs (asset://<id>) are accepted too but left out of the patterns: whether one
# names an asset of the caller is not a matter of form (an unknown one is a 422, docs/uploads.md).
# The data: image types taken at create (the upload types of docs/uploads.md, and the
# aliases of JPEG); the API refuses any other before storing anything.
DATA_IMAGE_SUBTYPES = "png|jpeg|jpg|pjpeg|webp|bmp|tiff|gif"
# The payload: strict, non-empty base64 (what create decodes: no whitespace, padded).
_BASE64 = (
    r"(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}="
)
IMAGE_URL_PATTERN = (
    rf"^([Hh][Tt][Tt][Pp][Ss]?://[^\u0000]*|data:image/({DATA_IMAGE_SUBTYPES});base64,({_BASE64}))$"
)
LORA_PATH_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\u0000]*$"

_WXH = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
_DATA_URI = re.compile(rf"^data:image/({DATA_IMAGE_SUBTYPES});base64,", re.ASCII)


class CustomImageSize(BaseModel):
    """A custom output size; each side 256..2048, snapped down to a multiple of 16."""

    model_config = ConfigDict(extra="forbid", strict=True)

    width: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)]
    height: Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)]

    @field_validator("width", "height", mode="before")
    @classmethod
    def _whole_float_is_int(cls, value: Any) -> Any:
        return whole_float_to_int(value)

    @field_validator("width", "height")
    @classmethod
    def _snap(cls, side: int) -> int:
        return side - side % SIDE_MULTIPLE


def _parse_image_size(value: Any) -> Any:
    """Turn the `"WxH"` string form into the object form; leave presets and objects alone."""
    if isinstance(value, str) and value not in PRESETS:
        match = _WXH.match(value)
        if match is None:
            raise ValueError(
                f"image_size must be one of {', '.join(PRESETS)}, a 'WIDTHxHEIGHT' string "
                f"such as '1024x768', or an object {{'width': W, 'height': H}}; got {value!r}"
            )
        return {"width": int(match.group(1)), "height": int(match.group(2))}
    return value


class LoraWeights(BaseModel):
    """One LoRA adapter for a run (docs/loras.md)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="LoraWeights")

    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="http(s) URL or asset URL (asset://<id>) of a .safetensors LoRA for this transformer "
            "(diffusers/PEFT or common community key formats).",
            json_schema_extra={"pattern": LORA_PATH_PATTERN},
        ),
    ]
    scale: Annotated[
        float, Field(ge=0, le=MAX_LORA_SCALE, description="Strength of the adapter; 0 turns it off.")
    ] = 1.0

    @field_validator("path")
    @classmethod
    def _http_url(cls, path: str) -> str:
        if path[:16].lower().startswith(("http://", "https://")) or resolve_asset_url(path) is not None:
            return path
        raise ValueError("path must be an http:// or https:// URL, or an asset URL (asset://<asset id>)")

    @field_validator("scale", mode="before")
    @classmethod
    def _int_is_a_float(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class EditParameters(BaseModel):
    """Everything of a run's input but the image URLs: what the engine needs besides images."""

    model_config = ConfigDict(extra="forbid", strict=True, title="QwenImageEdit2511Parameters")

    prompt: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PROMPT_CHARS,
            description="The edit instruction.",
            json_schema_extra={"pattern": PROMPT_PATTERN},
        ),
    ]
    negative_prompt: Annotated[
        str,
        Field(
            max_length=MAX_PROMPT_CHARS,
            description="What to steer away from.",
            json_schema_extra={"pattern": NO_NUL_PATTERN},
        ),
    ] = ""
    num_images: Annotated[int, Field(ge=1, le=4, description="Outputs per run.")] = 1
    image_size: Annotated[
        ImageSizePreset | CustomImageSize | None,
        Field(
            description="A preset, 'WxH', or {width, height}; null: about 1 megapixel at the "
            "aspect ratio of the last input image."
        ),
    ] = None
    num_inference_steps: Annotated[int, Field(ge=1, le=50, description="Denoising steps.")] = 28
    guidance_scale: Annotated[
        float,
        Field(ge=1, le=20, description="True classifier-free guidance scale; > 1 runs the negative branch."),
    ] = 4.5
    seed: Annotated[int | None, Field(ge=0, le=MAX_SEED, description="Random when not given.")] = None
    acceleration: Annotated[
        Acceleration, Field(description="Speed/fidelity trade-off (see the README's model card).")
    ] = Acceleration.REGULAR
    enable_safety_checker: Annotated[
        bool, Field(description="Replace outputs flagged by the NSFW classifier with black images.")
    ] = True
    output_format: Annotated[OutputFormat, Field(description="Encoding of the outputs.")] = OutputFormat.PNG
    sync_mode: Annotated[
        bool, Field(description="Return outputs inline as data: URIs and store nothing.")
    ] = False
    loras: Annotated[
        list[LoraWeights],
        Field(max_length=MAX_LORAS, description="Up to 3 LoRA adapters, active for this run only."),
    ] = Field(default_factory=list)
    preview_every: Annotated[
        int | None,
        Field(
            ge=0,
            le=50,
            description="A preview of the image forming (≤ 256 px) on the run's event stream every "
            "N denoising steps; 0: none; null: the server's default (none unless it turns them on). "
            "The outputs are the same either way.",
        ),
    ] = None

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size_forms(cls, value: Any) -> Any:
        return _parse_image_size(value)

    @field_validator("acceleration", "output_format", mode="before")
    @classmethod
    def _enum_from_json_string(cls, value: Any) -> Any:
        # Strict mode would refuse plain JSON strings for enums; accept their values.
        if isinstance(value, str):
            for enum in (Acceleration, OutputFormat):
                if value in enum._value2member_map_:
                    return enum(value)
        return value

    @field_validator("num_images", "num_inference_steps", "seed", "preview_every", mode="before")
    @classmethod
    def _whole_float_is_int(cls, value: Any) -> Any:
        return whole_float_to_int(value)

    @field_validator("guidance_scale", mode="before")
    @classmethod
    def _int_is_a_float(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    @model_serializer(mode="wrap")
    def _previews_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A run that says nothing about previews stores the input it stored before they
        # existed (the same Idempotency-Key hash, the same run object).
        data = handler(self)
        if data.get("preview_every", 0) is None:
            del data["preview_every"]
        return data

    @model_validator(mode="after")
    def _prompt_not_blank(self) -> EditParameters:
        if not self.prompt.strip():
            raise ValueError("prompt must contain more than whitespace")
        return self

    @property
    def requested_size(self) -> tuple[int, int] | None:
        """(width, height) when the request names a size; None for the default."""
        if self.image_size is None:
            return None
        if isinstance(self.image_size, str):
            return PRESETS[self.image_size]
        return self.image_size.width, self.image_size.height


class EditInput(EditParameters):
    """The `input` object of a run."""

    model_config = ConfigDict(extra="forbid", strict=True, title="QwenImageEdit2511Input")

    image_urls: Annotated[
        list[Annotated[str, Field(json_schema_extra={"pattern": IMAGE_URL_PATTERN})]],
        Field(
            min_length=1,
            max_length=MAX_IMAGES,
            description="Reference images in order (Picture 1, Picture 2, ...): http(s) URLs, "
            "data:image/...;base64, URIs, or asset://<id> URLs of the caller's uploaded assets.",
        ),
    ]

    @field_validator("image_urls")
    @classmethod
    def _url_forms(cls, urls: list[str]) -> list[str]:
        for index, url in enumerate(urls):
            lowered = url[:16].lower()
            if lowered.startswith(("http://", "https://")):
                continue
            if _DATA_URI.match(url):
                continue
            if resolve_asset_url(url) is not None:
                continue
            raise ValueError(
                f"image_urls[{index}] must start with http://, https://, data:image/<type>;base64, "
                f"with <type> one of {DATA_IMAGE_SUBTYPES.replace('|', ', ')}, "
                "or be an asset URL (asset://<asset id>)"
            )
        return urls


class OutputImage(BaseModel):
    url: str
    type: Literal["image"] = "image"
    content_type: str
    width: int
    height: int
    file_size: int


class EditOutput(BaseModel):
    """The `output` object of a succeeded run."""

    model_config = ConfigDict(title="QwenImageEdit2511Output", extra="allow")

    outputs: list[OutputImage]
    seed: int
    model_data: dict[str, Any]
    nsfw_detected: bool | None
    timing: dict[str, Any]


class LightningEditInput(EditInput):
    """The `input` of `alibaba/qwen-image-edit-2511-lightning`: the base model's, with the distilled defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, title="QwenImageEdit2511LightningInput")

    num_inference_steps: Annotated[
        int, Field(ge=1, le=50, description="Denoising steps (the LoRA is distilled for 4 or 8).")
    ] = 8
    guidance_scale: Annotated[
        float,
        Field(ge=1, le=20, description="True classifier-free guidance scale; the distilled model wants 1."),
    ] = 1.0
    acceleration: Annotated[
        Acceleration,
        Field(description="Step caching; off by default: a distilled 8-step schedule has no steps to spare."),
    ] = Acceleration.NONE
