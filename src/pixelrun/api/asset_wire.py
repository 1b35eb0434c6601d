"""Request and response bodies of the upload flow (docs/uploads.md)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixelrun.api.asset_service import IMAGE_TYPES, SAFETENSORS_TYPE
from pixelrun.api.wire import Timestamp
from pixelrun.engines.input_rules import whole_float_to_int
from pixelrun.runs import asset_url, isoformat_utc
from pixelrun.store import AssetRecord

MAX_NAME_CHARS = 255


def _any_case(text: str) -> str:
    """A JSON Schema regex matching `text` in any letter case (JSON Schema has no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


_IMAGE_MEDIA = "|".join(_any_case(media) for media in IMAGE_TYPES)
# The media type is read as `mime_type.split(";")[0].strip().lower()`; parameters may follow.
IMAGE_MIME_PATTERN = rf"^\s*({_IMAGE_MEDIA})\s*(;[^\u0000]*)?$"
SAFETENSORS_MIME_PATTERN = rf"^\s*{_any_case(SAFETENSORS_TYPE)}\s*(;[^\u0000]*)?$"
SAFETENSORS_NAME_PATTERN = rf"^[^\u0000]*{_any_case('.safetensors')}$"


class AssetUploadCreate(BaseModel):
    # The allowed types, written out for the OpenAPI document (`extension_for` decides).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"properties": {"mime_type": {"pattern": IMAGE_MIME_PATTERN}}},
                {
                    "properties": {
                        "mime_type": {"pattern": SAFETENSORS_MIME_PATTERN},
                        "filename": {"pattern": SAFETENSORS_NAME_PATTERN},
                    }
                },
            ]
        },
    )

    filename: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, description="The file's name.")]
    mime_type: Annotated[
        str,
        Field(
            max_length=100,
            description="image/png, image/jpeg, image/webp, image/bmp, image/tiff or image/gif; "
            "application/octet-stream for a .safetensors LoRA.",
        ),
    ]
    size_bytes: Annotated[int, Field(ge=1, description="The exact size of the file in bytes.")]

    @field_validator("size_bytes", mode="before")
    @classmethod
    def _whole_float_is_int(cls, value: object) -> object:
        return whole_float_to_int(value)

    @field_validator("filename", "mime_type")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the store.
        if "\x00" in value:
            raise ValueError("NUL characters are not allowed")
        return value


class AssetUploadOut(BaseModel):
    asset_id: str
    upload_url: str = Field(description="PUT the bytes here with the declared Content-Type; no API key.")
    expires_at: Timestamp


class AssetOut(BaseModel):
    id: str
    name: str
    url: str = Field(
        description="asset://<id>: usable in image_urls (and loras[].path) of this owner's runs."
    )
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    created_at: Timestamp

    @classmethod
    def from_record(cls, record: AssetRecord) -> AssetOut:
        return cls(
            id=record.id,
            name=record.name,
            url=asset_url(record.id),
            mime_type=record.mime_type,
            size_bytes=record.size_bytes,
            width=record.width,
            height=record.height,
            created_at=isoformat_utc(record.created_at),
        )
