"""`/docs`: Swagger UI served from this process, with nothing fetched from outside
(docs/security.md#the-docs-page).

The page shares its origin with the playground, which keeps the API key in
`localStorage`; a script from a CDN (floating version, no integrity hash) could read it.
So Swagger UI's files come from the `fastapi-offline` package, the page's own script is a
file (no inline script), and the playground's Content-Security-Policy applies.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from pixelrun.api.routes.playground import CONTENT_SECURITY_POLICY

DOCS_DIR = Path(__file__).resolve().parent.parent / "static" / "docs"
# Swagger UI's bundle and stylesheet, as the fastapi-offline package ships them.
VENDOR_DIR = Path(str(files("fastapi_offline") / "static"))

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs_page() -> FileResponse:
    return FileResponse(
        DOCS_DIR / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


def install_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/docs/vendor", StaticFiles(directory=VENDOR_DIR), name="docs-vendor")
    app.mount("/docs/app", StaticFiles(directory=DOCS_DIR), name="docs-app")
