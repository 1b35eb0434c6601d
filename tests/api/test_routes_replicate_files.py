"""Replicate's files routes in process, on both store back ends: the list's pages and the
error shape (the official client against a real server: tests/compat/test_replicate_files.py)."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelrun.api.compat import replicate_files

from .conftest import Caller


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_list_pages_with_next(
    client: TestClient, caller: Caller, other_caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replicate_files, "PAGE_SIZE", 2)
    made = []
    for n in range(3):
        response = client.post(
            "/v1/files", files={"content": (f"{n}.png", png(n), "image/png")}, headers=caller.headers
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    client.post("/v1/files", files={"content": ("x.png", png(9), "image/png")}, headers=other_caller.headers)

    first = client.get("/v1/files", headers=caller.headers).json()
    assert [f["id"] for f in first["results"]] == made[:0:-1] and first["previous"] is None
    second = client.get(first["next"], headers=caller.headers).json()
    assert [f["id"] for f in second["results"]] == made[:1] and second["next"] is None


def test_errors_are_in_replicates_shape_and_signed_files_keep_theirs(
    client: TestClient, caller: Caller
) -> None:
    response = client.get("/v1/files", params={"cursor": "nope"}, headers=caller.headers)
    assert response.status_code == 422 and set(response.json()) == {"title", "detail", "status"}
    response = client.post("/v1/files", files={"metadata": (None, "{}")}, headers=caller.headers)
    assert response.status_code == 422 and response.json()["detail"].startswith("content: required")
    response = client.delete("/v1/files/0193", headers=caller.headers)
    assert response.status_code == 404 and response.json()["detail"] == "File 0193 not found."
    # A storage key has slashes: the signed output file route, in the hosted API's shape.
    response = client.get("/v1/files/runs/x/0.png", headers=caller.headers)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("metadata", ["[1]", "nope", '{"a": NaN}', "[" * 100_000])
def test_metadata_must_be_a_json_object(client: TestClient, caller: Caller, metadata: str) -> None:
    form = {"content": ("a.png", png(1), "image/png"), "metadata": (None, metadata)}
    response = client.post("/v1/files", files=form, headers=caller.headers)
    assert response.status_code == 422 and response.json()["detail"] == "metadata: must be a JSON object"
