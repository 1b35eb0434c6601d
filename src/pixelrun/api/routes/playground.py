"""The playground page (docs/playground.md): static files shipped in the package, no outside resource.

The page is plain HTML, CSS and ES modules: no build step, nothing fetched from a CDN,
so it works on an air-gapped GPU box. It talks only to this server's `/v1` API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

PLAYGROUND_DIR = Path(__file__).resolve().parent.parent / "static" / "playground"
STATIC_PREFIX = "/playground/static"

# The page may load nothing but its own files; images and API calls may go to a storage
# host (S3 presigned URLs), so those two are left open to http(s).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: http: https:",
        "connect-src 'self' http: https:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/playground")
def playground_page() -> FileResponse:
    return FileResponse(
        PLAYGROUND_DIR / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


def install_playground(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=PLAYGROUND_DIR), name="playground-static")
