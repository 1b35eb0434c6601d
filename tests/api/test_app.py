"""The app factory: wiring, lifespan, OpenAPI, torch-free import, and a real uvicorn server."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from pixelrun.api import create_app
from pixelrun.api.routes.playground import CONTENT_SECURITY_POLICY
from pixelrun.config import Settings
from pixelrun.store import Store

from .conftest import MODEL, Caller, LiveServer, valid_input


def test_importing_the_api_and_creating_the_app_does_not_import_torch(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from pixelrun.api import create_app
        from pixelrun.config import Settings
        app = create_app(Settings(data_dir={str(tmp_path)!r}, signing_secret="s" * 32))
        with TestClient(app) as client:
            assert client.get("/v1/health").status_code == 200
            client.get("/openapi.json").raise_for_status()
        heavy = sorted(name for name in ("torch", "diffusers", "transformers") if name in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_lifespan_without_a_store_opens_and_migrates_one_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh", signing_secret="s" * 32)
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/v1/readiness").json()["checks"]["store"] == {"ok": True, "detail": None}
        assert isinstance(app.state.services.store, Store)
        assert app.state.services.settings is settings
    assert (tmp_path / "fresh" / "pixelrun.db").is_file()


def test_openapi_document_lists_every_route_with_summary_and_responses(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    expected = {
        # One create route per catalog model, each with its input schema (see test_openapi.py).
        "/v1/models/alibaba/qwen-image-edit-2511/runs": ["post"],
        "/v1/runs": ["get"],
        "/v1/runs/statuses": ["get"],
        "/v1/runs/{run_id}": ["get"],
        "/v1/runs/{run_id}/cancellation": ["post"],
        "/v1/runs/{run_id}/logs": ["get"],
        "/v1/models": ["get"],
        "/v1/models/alibaba/qwen-image-edit-2511": ["get"],
        # Signed output files: the storage key written out, so it is not /v1/files/{file_id}.
        "/v1/files/runs/{run_id}/{name}": ["get"],
        "/v1/auth/me": ["get"],
        "/v1/billing/balance": ["get"],
        "/v1/health": ["get"],
        "/v1/readiness": ["get"],
        # Callback routes (docs/callbacks.md) are mounted, whichever module implements them.
        "/v1/runs/{run_id}/callback": ["get"],
        "/v1/runs/{run_id}/callback-redeliveries": ["post"],
        "/v1/callback-secrets": ["get", "post"],
        # The compatibility routes (docs/compatibility.md#openai-post-v1imagesedits, docs/compatibility.md#replicate-predictions).
        "/v1/images/edits": ["post"],
        "/v1/models/alibaba/qwen-image-edit-2511/predictions": ["post"],
        "/v1/predictions": ["get"],
        "/v1/predictions/{prediction_id}": ["get"],
        "/v1/predictions/{prediction_id}/cancel": ["post"],
        "/v1/files": ["get", "post"],
        "/v1/files/{file_id}": ["get", "delete"],
    }
    for path, methods in expected.items():
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
    run_schema = doc["components"]["schemas"]["RunOut"]
    assert set(run_schema["properties"]) == {
        "id", "model_id", "status_code", "input", "output", "metadata", "callback_url", "client_ref",
        "created_at", "started_at", "completed_at", "duration_ms", "cost", "cost_breakdown",
        "failure_code", "failure_message", "failure_stage_code", "progress", "queue_position", "links",
    }  # fmt: skip
    assert "RunCreate" in doc["components"]["schemas"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


def test_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    """/docs shares its origin with the playground's key: every file it loads is this
    server's own, under the playground's Content-Security-Policy."""
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
    assert len(references) >= 4, references
    for url in references:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    assert "<script>" not in response.text  # no inline script: the CSP would refuse it
    init = client.get("/docs/app/init.js").text
    assert "/openapi.json" in init and not re.search(r"https?://", init)
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads from a CDN


def test_every_response_carries_a_request_id_and_a_sane_client_id_is_kept(client: TestClient) -> None:
    first = client.get("/v1/health").headers["x-request-id"]
    second = client.get("/v1/health").headers["x-request-id"]
    assert first and second and first != second
    assert client.get("/v1/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    # Anything that could forge log lines or headers is replaced.
    replaced = client.get("/v1/health", headers={"X-Request-Id": "a b<script>"}).headers["x-request-id"]
    assert replaced != "a b<script>"


def test_real_uvicorn_server_creates_and_reads_a_run(live_server: LiveServer, caller: Caller) -> None:
    with httpx.Client(base_url=live_server.url, headers=caller.headers, timeout=10) as http:
        created = http.post(f"/v1/models/{MODEL}/runs", json={"input": valid_input()})
        assert created.status_code == 201, created.text
        run = created.json()
        assert run["status_code"] == "queued"
        assert run["links"]["self"] == f"http://pixelrun.test/v1/runs/{run['id']}"
        fetched = http.get(f"/v1/runs/{run['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["id"] == run["id"]
        assert fetched.headers["content-type"] == "application/json"
        missing = http.get("/v1/runs/nope")
        assert missing.status_code == 404 and missing.json()["code"] == "RUN_NOT_FOUND"
