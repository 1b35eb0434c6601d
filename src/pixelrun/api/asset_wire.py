"""Request and response bodies of the upload flow (SPEC §8)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pixelrun.api.wire import Timestamp
from pixelrun.runs import asset_url, isoformat_utc
from pixelrun.store.assets_repo import AssetRecord

MAX_NAME_CHARS = 255


class AssetUploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

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
