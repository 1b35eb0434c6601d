"""OpenAI-compatible image edits (docs/compatibility.md#openai-post-v1imagesedits): `POST /v1/images/edits` as the official SDK sends it.

A thin translator: the multipart form becomes a run input, the run is created through
`run_service.submit` and awaited with `wait_for_terminal`, like any other run (listed, billed,
cancellable, logged), and the finished run becomes OpenAI's images response; with
`stream=true`, OpenAI's Server-Sent Events instead (`openai_stream`).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from pixelrun.api.compat.openai_stream import (
    MAX_PARTIAL_IMAGES,
    STREAM_RESPONSE,
    stream_edit,
    with_partial_images,
)
from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError
from pixelrun.api.models_catalog import CATALOG, CatalogModel, get_catalog_model
from pixelrun.api.run_service import CreateOptions, RunRequest, submit
from pixelrun.api.run_waiter import wait_for_terminal
from pixelrun.api.streaming.follow import sse_response
from pixelrun.engines.input_rules import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    NO_NUL_PATTERN,
    PROMPT_PATTERN,
    Acceleration,
    OutputFormat,
)
from pixelrun.engines.registry import DEFAULT_MODEL_ID
from pixelrun.media.datauri import to_data_uri
from pixelrun.runs import FailureStage, RunStatus
from pixelrun.storage import FileStorage
from pixelrun.store import RunRecord

PATH_PREFIX = "/v1/images/"
MAX_IMAGES = 4
RESPONSE_FORMATS = ("b64_json", "url")

# OpenAI fields with no meaning for these models: accepted and ignored (docs/compatibility.md#openai-post-v1imagesedits).
IGNORED_FIELDS = frozenset(
    {
        "quality",
        "background",
        "input_fidelity",
        "output_compression",
        "user",
        "safety_identifier",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "svg",
    }
)
# Image parts, which may arrive as text (a part without a filename): bytes, not text.
IMAGE_FIELDS = frozenset({"image", "image[]"})
REFUSED_FILES = {
    "mask": "masks are not supported by this model",
    "markup": "markup is not supported by this model",
}
# Form field → (run input field, type). Pixelrun's own fields arrive through `extra_body`.
INT_FIELDS = {"n": "num_images", "seed": "seed", "num_inference_steps": "num_inference_steps"}
FLOAT_FIELDS = {"guidance_scale": "guidance_scale"}
STRING_FIELDS = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "output_format": "output_format",
    "acceleration": "acceleration",
}
# Streaming (`openai_stream`): the route reads these itself.
STREAM_FIELDS = ("stream", "partial_images")
KNOWN_FIELDS = frozenset(
    {
        "image",
        "image[]",
        "size",
        "response_format",
        "model",
        *STREAM_FIELDS,
        *INT_FIELDS,
        *FLOAT_FIELDS,
        *STRING_FIELDS,
    }
)
# Run input field → the form field a client sent, for error `param`s.
FORM_NAME = {
    **{v: k for k, v in INT_FIELDS.items()},
    **{v: k for k, v in STRING_FIELDS.items()},
    "guidance_scale": "guidance_scale",
    "image_size": "size",
    "image_urls": "image",
}

_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)

router = APIRouter(tags=["openai-compatible"])


# ---- wire models (documentation and the SDK's view) ----


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorOut(BaseModel):
    """OpenAI's error shape, used by every error of `/v1/images/...`."""

    error: OpenAIErrorBody


class OpenAIImage(BaseModel):
    b64_json: str | None = Field(default=None, description="With response_format b64_json.")
    url: str | None = Field(default=None, description="With response_format url: a signed file URL.")


class OpenAIImagesResponse(BaseModel):
    created: int = Field(description="Unix seconds when the run was created.")
    data: list[OpenAIImage]
    output_format: Literal["png", "jpeg", "webp"]
    size: str = Field(description="WIDTHxHEIGHT of the outputs.")


# A side of `size`: 256..2048.
_SIDE = r"(25[6-9]|2[6-9][0-9]|[3-9][0-9]{2}|1[0-9]{3}|20[0-3][0-9]|204[0-8])"
SIZE_PATTERN = rf"^(auto|{_SIDE}x{_SIDE})$"
_SIZE = re.compile(SIZE_PATTERN)
_BINARY = {"type": "string", "format": "binary"}
_IMAGE_BYTES = "PNG, JPEG, WebP, BMP, TIFF or GIF bytes: other bytes are a 400 (the run fails on its input)."


def edit_form_schema() -> dict[str, Any]:
    """The multipart form of `POST /v1/images/edits` as JSON Schema. Written out rather than
    derived from a model: the form is parsed by hand (the SDK names a list of files
    `image[]` and sends every field as a string), and this is exactly what the parser takes."""
    ignored = {
        name: {"type": "string", "description": "Accepted and ignored."} for name in sorted(IGNORED_FIELDS)
    }
    return {
        "title": "OpenAIEditForm",
        "type": "object",
        "properties": {
            "image": {
                **_BINARY,
                "description": f"One image to edit; ignored when image[] is sent. {_IMAGE_BYTES}",
            },
            "image[]": {
                "type": "array",
                "items": _BINARY,
                "minItems": 1,
                "maxItems": MAX_IMAGES,
                "description": f"1..{MAX_IMAGES} images to edit, in order. {_IMAGE_BYTES}",
            },
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PROMPT_CHARS,
                "pattern": PROMPT_PATTERN,
            },
            "model": {"type": "string", "enum": sorted(CATALOG), "default": DEFAULT_MODEL_ID},
            "n": {"type": "integer", "minimum": 1, "maximum": 4, "description": "Number of images."},
            "size": {
                "type": "string",
                "pattern": SIZE_PATTERN,
                "description": "auto or WIDTHxHEIGHT, 256..2048.",
            },
            "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS), "default": "b64_json"},
            "output_format": {"type": "string", "enum": [f.value for f in OutputFormat], "default": "png"},
            "negative_prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS, "pattern": NO_NUL_PATTERN},
            "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
            "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50},
            "guidance_scale": {"type": "number", "minimum": 1, "maximum": 20},
            "acceleration": {"type": "string", "enum": [a.value for a in Acceleration]},
            "stream": {
                "type": "boolean",
                "default": False,
                "description": "Answer Server-Sent Events: partial images, then the completed images.",
            },
            "partial_images": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_PARTIAL_IMAGES,
                "default": 0,
                "description": "With stream: how many previews of the image forming to send first.",
            },
            **ignored,
        },
        "required": ["prompt"],
        # One file as image, or 1..4 as image[] (which wins when both are sent).
        "anyOf": [{"required": ["image"]}, {"required": ["image[]"]}],
        "additionalProperties": False,
    }


# ---- the error shape ----


class OpenAIErrorShape:
    """`{"error": {"message", "type", "param", "code"}}`; field errors are 400 as OpenAI's are."""

    def matches(self, path: str) -> bool:
        return path.startswith(PATH_PREFIX)

    def render(
        self, status_code: int, code: str, message: str, errors: list[dict[str, Any]] | None
    ) -> tuple[int, dict[str, Any]]:
        status = 400 if status_code == 422 else status_code
        param = _param(errors)
        if status == 401:
            kind, wire_code = "invalid_request_error", "invalid_api_key"
        elif status == 402:
            kind, wire_code = "insufficient_quota", "insufficient_quota"
        elif status == 429:
            kind, wire_code = "rate_limit_error", "rate_limit_exceeded"
        elif status >= 500:
            kind, wire_code = "server_error", code.lower()
        else:
            kind, wire_code = "invalid_request_error", code.lower()
        body = {"error": {"message": message, "type": kind, "param": param, "code": wire_code}}
        return status, body


def _param(errors: list[dict[str, Any]] | None) -> str | None:
    if not errors:
        return None
    loc = [part for part in errors[0].get("loc", []) if part != "body"]
    if not loc:
        return None
    return FORM_NAME.get(str(loc[0]), str(loc[0]))


ERROR_SHAPE = OpenAIErrorShape()


def _bad(param: str | None, message: str, code: str = "invalid_value") -> ApiError:
    errors = [{"loc": ["body", param], "msg": message, "type": code}] if param else None
    return ApiError(400, code.upper(), message, errors=errors)


# ---- the route ----

_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorOut, "description": what}
    for status, what in {
        400: "Bad form, invalid field (param names it), mask given, or the run failed on its input",
        401: "Missing or invalid API key",
        402: "Insufficient credit",
        404: "Unknown model",
        409: "The run was canceled before it finished, or an Idempotency-Key reused with another request",
        429: "Rate limited (Retry-After)",
        413: "Body over the configured limit",
        500: "The run failed",
        503: "No worker can serve the model, or the store is unreachable",
        504: "The run did not finish in time; the message names the run id and the run goes on",
    }.items()
}


@router.post(
    "/images/edits",
    response_model=OpenAIImagesResponse,
    summary="Edit images (OpenAI-compatible)",
    description="OpenAI's Images API edit, served by a catalog model. Held until the run "
    "finishes (PIXELRUN_SYNC_TIMEOUT_SECONDS, then 504 naming the run id); with stream=true, "
    "Server-Sent Events as the run goes.",
    responses={**STREAM_RESPONSE, **_RESPONSES},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": edit_form_schema(),
                    "encoding": {
                        "image": {"contentType": "image/png"},
                        "image[]": {"contentType": "image/png"},
                    },
                }
            },
        }
    },
)
async def images_edits(
    request: Request, auth: CurrentAuth, services: ServicesDep
) -> OpenAIImagesResponse | StreamingResponse:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise _bad(None, "The request body must be multipart/form-data.", "bad_request")
    async with request.form(max_files=MAX_IMAGES + len(REFUSED_FILES), max_fields=100) as form:
        model, raw_input, response_format = await _translate(form)
        stream, partial_images = _stream_fields(form)
    if stream:
        raw_input = with_partial_images(model, raw_input, partial_images)
    options = CreateOptions.from_request(
        request
    )  # Idempotency-Key, Cancel-After (docs/operations.md#protecting-the-service)
    submission = await submit(
        services, RunRequest(auth=auth, model=model, input=raw_input, options=options, input_loc=("body",))
    )
    # A replayed Idempotency-Key waits for (and answers with) the first request's run.
    run = submission.run
    if stream:
        events = stream_edit(
            services,
            run,
            partial_images,
            lambda final: _answer(final, "b64_json", services.storage, services.settings),
            lambda error: ERROR_SHAPE.render(error.status_code, error.code, error.message, error.errors)[1],
        )
        return sse_response(events)
    final = await wait_for_terminal(services, run, services.settings.sync_timeout_seconds)
    return await anyio.to_thread.run_sync(
        lambda: _answer(final, response_format, services.storage, services.settings)
    )


async def _translate(form: FormData) -> tuple[CatalogModel, dict[str, Any], str]:
    for name, why in REFUSED_FILES.items():
        if name in form:
            raise _bad(name, why, "unsupported_parameter")
    unknown = sorted(set(form.keys()) - KNOWN_FIELDS - IGNORED_FIELDS)
    if unknown:
        raise _bad(unknown[0], f"Unknown parameter: {unknown[0]}.", "unknown_parameter")
    for name, value in form.multi_items():
        # Every text field, the ignored ones too: the schema says no NUL, so a NUL is refused
        # even where the value is not used.
        if isinstance(value, str) and "\x00" in value and name not in IMAGE_FIELDS:
            raise _bad(name, f"{name} must not contain NUL characters.")
    model_id = _text(form, "model") or DEFAULT_MODEL_ID
    model = get_catalog_model(model_id)
    if model is None:
        raise ApiError(404, "MODEL_NOT_FOUND", f"Model {model_id!r} not found.")
    response_format = _text(form, "response_format") or "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise _bad("response_format", "response_format must be b64_json or url.")

    raw: dict[str, Any] = {"image_urls": await _images(form)}
    for name, target in STRING_FIELDS.items():
        value = _text(form, name)
        if value is not None:
            raw[target] = value
    for name, target in INT_FIELDS.items():
        value = _text(form, name)
        if value is not None:
            raw[target] = _number(name, value, int)
    for name, target in FLOAT_FIELDS.items():
        value = _text(form, name)
        if value is not None:
            raw[target] = _number(name, value, float)
    size = _text(form, "size")
    if size is not None:
        match = _SIZE.match(size)
        if match is None:
            raise _bad("size", "size must be auto or WIDTHxHEIGHT with each side 256..2048.")
        if match.group(1) != "auto":
            raw["image_size"] = match.group(1)
    return model, raw, response_format


def _stream_fields(form: FormData) -> tuple[bool, int]:
    """`stream` (true/false) and `partial_images` (0..3, with stream only)."""
    stream = (_text(form, "stream") or "false").strip().lower()
    if stream not in ("true", "false"):
        raise _bad("stream", "stream must be true or false.")
    raw = _text(form, "partial_images")
    partial_images = 0 if raw is None else _number("partial_images", raw, int)
    if not 0 <= partial_images <= MAX_PARTIAL_IMAGES:
        raise _bad("partial_images", f"partial_images must be 0..{MAX_PARTIAL_IMAGES}.")
    return stream == "true", int(partial_images)


def _text(form: FormData, name: str) -> str | None:
    values = form.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise _bad(name, f"{name} was given more than once.")
    value = values[0]
    if not isinstance(value, str):
        raise _bad(name, f"{name} must be a form field, not a file.")
    return value


def _number(name: str, value: str, kind: type[int] | type[float]) -> int | float:
    try:
        number = kind(value.strip())
    except ValueError:
        raise _bad(
            name, f"{name} must be {'an integer' if kind is int else 'a number'}; got {value!r}."
        ) from None
    if (isinstance(number, float) and number != number) or number in (float("inf"), float("-inf")):
        raise _bad(name, f"{name} must be a finite number.")
    return number


async def _images(form: FormData) -> list[str]:
    single, listed = form.getlist("image"), form.getlist("image[]")
    if len(single) > 1:
        raise _bad("image", "image is one file; send several as image[].")
    parts = listed or single  # the SDK sends one or the other; image[] wins
    if not parts:
        raise _bad("image", "image is required: one file as image, or 1..4 files as image[].", "missing")
    if len(parts) > MAX_IMAGES:
        raise _bad("image", f"At most {MAX_IMAGES} images.")
    uris = []
    for part in parts:
        if isinstance(part, UploadFile):
            data = await part.read()
            uris.append(to_data_uri(data, _content_type(part.content_type, data)))
        else:  # a part without a filename: Starlette hands it over as text
            data = _field_bytes(part)
            uris.append(to_data_uri(data, _content_type(None, data)))
    return uris


def _field_bytes(text: str) -> bytes:
    """The bytes of a form field Starlette decoded: as UTF-8 when they were UTF-8, else as latin-1."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # not UTF-8: Starlette fell back to latin-1, which round-trips
    return text.encode("utf-8")


def _content_type(declared_type: str | None, data: bytes) -> str:
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared.startswith("image/"):
        return declared
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/octet-stream"  # the worker decodes by content, whatever the label


def _answer(
    run: RunRecord, response_format: str, storage: FileStorage, settings: Any
) -> OpenAIImagesResponse:
    if not run.status.is_terminal:
        raise ApiError(
            504,
            "TIMEOUT",
            f"Run {run.id} did not finish within {settings.sync_timeout_seconds:g} s; it goes on: "
            f"poll GET /v1/runs/{run.id}.",
        )
    if run.status is RunStatus.CANCELED:
        raise ApiError(409, "RUN_CANCELED", f"Run {run.id} was canceled.")
    if run.status is RunStatus.FAILED:
        client_side = run.failure_stage in (
            FailureStage.VALIDATION,
            FailureStage.INPUT_FETCH,
            FailureStage.SAFETY,
        )
        raise ApiError(
            400 if client_side else 500,
            (run.failure_code or "RUN_FAILED").upper(),
            f"Run {run.id} failed: {run.failure_message}",
        )
    output = run.output or {}
    items = output.get("outputs", [])
    data = [_image(item, response_format, storage, settings.file_url_ttl_seconds) for item in items]
    first = items[0] if items else {}
    return OpenAIImagesResponse(
        created=int(run.created_at.timestamp()),
        data=data,
        output_format=str(first.get("content_type", "image/png")).removeprefix("image/"),  # type: ignore[arg-type]
        size=f"{first.get('width', 0)}x{first.get('height', 0)}",
    )


def _image(item: dict[str, Any], response_format: str, storage: FileStorage, ttl: int) -> OpenAIImage:
    key = item.get("key")
    if response_format == "url":
        return OpenAIImage(url=storage.url_for(key, ttl) if key else item.get("url"))
    if key is None:  # an inline (sync_mode) output: its data URI is the image
        return OpenAIImage(b64_json=str(item["url"]).split(",", 1)[1])
    with storage.open(key) as handle:
        return OpenAIImage(b64_json=base64.b64encode(handle.read()).decode("ascii"))
