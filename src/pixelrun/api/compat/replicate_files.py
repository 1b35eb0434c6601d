"""Replicate's files API (docs/compatibility.md#replicate-files) over Pixelrun's assets.

The `replicate` client uploads every local file of a prediction's input with
`POST /v1/files` (its default `file_encoding_strategy`) and puts the answer's `urls.get`
in the input. A file here is an asset (docs/uploads.md): checked as an upload is, kept at
the asset's key, and `urls.get` is its `asset://` URL, which a create takes for the
owner's own assets and workers read from file storage, never over the network.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from pixelrun import maintenance
from pixelrun.api import asset_service
from pixelrun.api.asset_wire import MAX_NAME_CHARS
from pixelrun.api.compat.replicate import ReplicateErrorOut
from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError, invalid_cursor, validation_error
from pixelrun.api.services import Services
from pixelrun.engines.input_rules import NO_NUL_PATTERN
from pixelrun.runs import asset_url, isoformat_utc
from pixelrun.storage import StorageError, layout
from pixelrun.store import CURSOR_PATTERN, AssetRecord, InvalidCursor

PAGE_SIZE = 100
FIELDS = ("content", "filename", "type", "metadata")
# Read back from storage: far more than checksums and a sane metadata object need.
_MAX_INFO_BYTES = 2 * 1024 * 1024

router = APIRouter(tags=["replicate-compatible"])


class FileUrls(BaseModel):
    get: str = Field(
        description="asset://<id>: what a prediction's input takes for this file (image_urls, loras[].path)."
    )


class FileOut(BaseModel):
    id: str = Field(description="The asset id: GET /v1/assets/{id} shows the same file.")
    name: str
    content_type: str = Field(
        description="What the bytes are (an image's own format), whatever was declared."
    )
    size: int
    etag: str = Field(description="The MD5 of the bytes (the asset id for assets not made here).")
    checksums: dict[str, str] = Field(description="sha256 and md5 of the bytes.")
    metadata: dict[str, Any]
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    expires_at: str | None = Field(
        json_schema_extra={"format": "date-time"},
        description="When retention deletes it (PIXELRUN_RETENTION_HOURS); null when kept.",
    )
    urls: FileUrls


class FileList(BaseModel):
    results: list[FileOut]
    next: str | None = Field(description="URL of the next (older) page; null on the last page.")
    previous: str | None = None


def _errors(**statuses: str) -> dict[int | str, dict[str, Any]]:
    return {
        int(s.removeprefix("s")): {"model": ReplicateErrorOut, "description": d} for s, d in statuses.items()
    }


def file_not_found(file_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"File {file_id} not found.")


_TEXT = {"type": "string", "pattern": NO_NUL_PATTERN}
FILE_FORM_SCHEMA: dict[str, Any] = {
    "title": "ReplicateFileForm",
    "type": "object",
    "properties": {
        "content": {
            "type": "string",
            "format": "binary",
            "description": "The file: PNG, JPEG, WEBP, BMP, TIFF or GIF, or a .safetensors LoRA.",
        },
        "filename": {
            **_TEXT,
            "minLength": 1,
            "maxLength": MAX_NAME_CHARS,
            "description": "Default: the content part's file name.",
        },
        "type": {
            **_TEXT,
            "description": "Default: the content part's type. Images are typed by their bytes.",
        },
        "metadata": {**_TEXT, "description": "A JSON object, kept with the file."},
    },
    "required": ["content"],
    "additionalProperties": False,
}


@router.post(
    "/files",
    status_code=201,
    response_model=FileOut,
    summary="Upload a file (Replicate-compatible)",
    description="multipart/form-data with the file as `content`; stored as an asset. Use `urls.get` "
    "in a prediction's input.",
    responses=_errors(
        s400="Not multipart/form-data, or a malformed form",
        s401="Missing or invalid API key",
        s413="Over PIXELRUN_MAX_UPLOAD_BYTES",
        s422="Not an allowed image (or LoRA), or a bad field",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": FILE_FORM_SCHEMA,
                    "encoding": {"content": {"contentType": "image/png"}},
                }
            },
        }
    },
)
async def create_file(request: Request, auth: CurrentAuth, services: ServicesDep) -> FileOut:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            400, "BAD_REQUEST", "The request body must be multipart/form-data with the file as `content`."
        )
    async with request.form(max_files=1, max_fields=len(FIELDS)) as form:
        content, filename, declared, metadata = _read_form(form)
        data = await content.read()  # at most the body limit (middleware, docs/uploads.md)

    def store() -> FileOut:
        checksums = {"sha256": hashlib.sha256(data).hexdigest(), "md5": _md5(data)}
        info = json.dumps({"checksums": checksums, "metadata": metadata}).encode()
        record = asset_service.create_checked_asset(
            services.store,
            services.storage,
            services.settings,
            auth.owner_id,
            filename,
            declared,
            data,
            extra_files=lambda asset_id: [(layout.asset_file_info_key(asset_id), info, "application/json")],
        )
        return _present(record, services, checksums, metadata)

    return await anyio.to_thread.run_sync(store)


@router.get(
    "/files",
    response_model=FileList,
    summary="List files, newest first (Replicate-compatible)",
    responses=_errors(s401="Missing or invalid API key", s422="Invalid cursor"),
)
def list_files(
    auth: CurrentAuth,
    services: ServicesDep,
    cursor: Annotated[
        str | None,
        Query(description="From `next` of the previous page.", json_schema_extra={"pattern": CURSOR_PATTERN}),
    ] = None,
) -> FileList:
    try:
        records, next_cursor = services.store.assets.page(auth.owner_id, limit=PAGE_SIZE, cursor=cursor)
    except InvalidCursor:
        raise invalid_cursor("cursor", "`next`") from None
    base = f"{services.settings.public_base_url.rstrip('/')}/v1/files"
    return FileList(
        results=[_present(record, services, *_info(record, services)) for record in records],
        next=f"{base}?cursor={next_cursor}" if next_cursor else None,
        previous=None,
    )


FileId = Annotated[str, Path(description="The file's (asset's) id.")]


@router.get(
    "/files/{file_id}",
    response_model=FileOut,
    summary="Get a file (Replicate-compatible)",
    responses=_errors(s401="Missing or invalid API key", s404="File not found"),
)
def get_file(file_id: FileId, auth: CurrentAuth, services: ServicesDep) -> FileOut:
    record = _owned(file_id, auth.owner_id, services)
    return _present(record, services, *_info(record, services))


@router.delete(
    "/files/{file_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a file (Replicate-compatible)",
    description="The asset and its bytes; runs already created with it fail at input_fetch if no "
    "worker has read it yet.",
    responses=_errors(s401="Missing or invalid API key", s404="File not found"),
)
def delete_file(file_id: FileId, auth: CurrentAuth, services: ServicesDep) -> Response:
    record = _owned(file_id, auth.owner_id, services)
    maintenance.delete_asset(services.store, services.storage, record)
    return Response(status_code=204)


def _owned(file_id: str, owner_id: str, services: Services) -> AssetRecord:
    # Another owner's file and no file at all answer alike.
    record = services.store.assets.get(file_id, owner_id)
    if record is None or not record.ready:
        raise file_not_found(file_id)
    return record


def _read_form(form: FormData) -> tuple[UploadFile, str, str, dict[str, Any]]:
    unknown = sorted(set(form.keys()) - set(FIELDS))
    if unknown:
        raise _field_error(unknown[0], f"unknown field; the form takes {', '.join(FIELDS)}")
    content = form.get("content")
    if not isinstance(content, UploadFile):
        raise _field_error("content", "required: the file, as a file part")
    filename = _text(form, "filename")
    if filename == "":
        raise _field_error("filename", "at least 1 character; leave it out to use the file part's name")
    filename = filename or content.filename or "file"
    if len(filename) > MAX_NAME_CHARS:
        raise _field_error("filename", f"at most {MAX_NAME_CHARS} characters")
    if "\x00" in filename:
        raise _field_error("filename", "NUL characters are not allowed")
    declared = _text(form, "type") or content.content_type or asset_service.SAFETENSORS_TYPE
    raw_metadata = _text(form, "metadata")
    metadata: Any = {}
    if raw_metadata:  # empty: none, as when left out
        try:
            metadata = json.loads(raw_metadata, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            metadata = None
        if not isinstance(metadata, dict):
            raise _field_error("metadata", "must be a JSON object")
    return content, filename, declared, metadata


def _no_constant(name: str) -> None:
    # NaN and Infinity are not JSON: they could not be answered back.
    raise ValueError(f"{name} is not JSON")


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _field_error(name, "must be a text field, not a file")
    if "\x00" in value:
        raise _field_error(name, "NUL characters are not allowed")
    return value


def _field_error(field: str, message: str) -> ApiError:
    return validation_error(
        [{"loc": ["body", field], "msg": message, "type": "value_error"}], message=f"{field}: {message}"
    )


def _md5(data: bytes) -> str:
    # An ETag and a checksum, as Replicate gives them; not a security use.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _info(record: AssetRecord, services: Services) -> tuple[dict[str, str], dict[str, Any]]:
    """Checksums and metadata kept beside the bytes; none for assets made by the upload flow."""
    try:
        info = json.loads(services.storage.read(layout.asset_file_info_key(record.id), _MAX_INFO_BYTES))
    except (StorageError, ValueError):
        return {}, {}
    return dict(info.get("checksums", {})), dict(info.get("metadata", {}))


def _present(
    record: AssetRecord, services: Services, checksums: dict[str, str], metadata: dict[str, Any]
) -> FileOut:
    retention = services.settings.retention_hours
    expires = record.created_at + timedelta(hours=retention) if retention > 0 else None
    return FileOut(
        id=record.id,
        name=record.name,
        content_type=record.mime_type,
        size=record.size_bytes,
        etag=checksums.get("md5", record.id),
        checksums=checksums,
        metadata=metadata,
        created_at=isoformat_utc(record.created_at),
        expires_at=isoformat_utc(expires) if expires is not None else None,
        urls=FileUrls(get=asset_url(record.id)),
    )
