"""Typed dependencies: the app's services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pixelrun.api.errors import ApiError, validation_error
from pixelrun.api.services import Services
from pixelrun.store import AuthContext

# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in
# the thread pool, a hop that cost more than the lookup itself on every request.


async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]

# auto_error=False: a missing key must answer with our envelope, not FastAPI's 403/401.
# The scheme also documents bearer auth in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


#: Where the body guard (api/body_guard.py) leaves the caller it checked: (key, AuthContext).
CHECKED_AUTH = "pixelrun_checked_auth"


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


async def require_auth(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthContext:
    if credentials is None or not credentials.credentials:
        raise unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    checked = request.scope.get("state", {}).get(CHECKED_AUTH)
    if checked is not None and checked[0] == credentials.credentials:
        return checked[1]  # looked up by the body guard before the body was read
    # The same object as `ServicesDep`, read directly: one more sub-dependency on every
    # request cost ~3 % of a create's CPU (callgrind, docs/architecture.md).
    services: Services = request.app.state.services
    cache = services.auth_cache
    # A cached key answers on the event loop; only a lookup in the store goes to a thread.
    auth = cache.cached(credentials.credentials)
    if auth is None:
        auth = await run_in_threadpool(cache.get, credentials.credentials, services.store.keys.authenticate)
    if auth is None:
        raise unauthorized("Invalid or revoked API key.")
    return auth


CurrentAuth = Annotated[AuthContext, Depends(require_auth)]


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not declare (docs/api.md#errors): a typo such
    as `?staus_code=failed` must not silently answer an unfiltered list."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        raise validation_error(
            [
                {"loc": ["query", name], "msg": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown
            ]
        )


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


# Declared after `CurrentAuth` in a route, so that a request without a key is still a 401.
NoUnknownQuery = Annotated[None, Depends(reject_unknown_query)]
