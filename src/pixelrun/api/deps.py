"""Typed dependencies: the app's settings, store and storage, and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pixelrun.api.auth_cache import AuthCache
from pixelrun.api.errors import ApiError
from pixelrun.config import Settings
from pixelrun.storage import FileStorage
from pixelrun.store import AuthContext, Store

# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in
# the thread pool, a hop that cost more than the lookup itself on every request.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_storage(request: Request) -> FileStorage:
    return request.app.state.storage  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
StorageDep = Annotated[FileStorage, Depends(get_storage)]

# auto_error=False: a missing key must answer with our envelope, not FastAPI's 403/401.
# The scheme also documents bearer auth in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def auth_cache(request: Request) -> AuthCache:
    state = request.app.state
    cache: AuthCache | None = getattr(state, "auth_cache", None)
    if cache is None:
        cache = state.auth_cache = AuthCache(state.settings.auth_cache_seconds)
    return cache


def services(request: Request) -> tuple[Store, Settings, FileStorage]:
    """The store, settings and storage, for the hot routes (runs: create and get).

    Each `Depends` costs FastAPI work on every request; these two routes read the app's
    state directly instead of through three more dependencies.
    """
    state = request.app.state
    return state.store, state.settings, state.storage


async def require_auth(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthContext:
    if credentials is None or not credentials.credentials:
        raise unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    cache = auth_cache(request)
    # A cached key answers on the event loop; only a lookup in the store goes to a thread.
    auth = cache.cached(credentials.credentials)
    if auth is None:
        store: Store = request.app.state.store
        auth = await run_in_threadpool(cache.get, credentials.credentials, store.keys.authenticate)
    if auth is None:
        raise unauthorized("Invalid or revoked API key.")
    return auth


CurrentAuth = Annotated[AuthContext, Depends(require_auth)]
