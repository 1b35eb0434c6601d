"""The one error envelope (docs/api.md#errors) and the exception handlers that produce it.

Every error leaves the API as `{"code", "message", "errors"}`, whatever raised it:
our own `ApiError`, Starlette's routing errors (404, 405) or FastAPI's validation.
Unexpected exceptions become 500 in `middleware.py`, which sees them first.

The compatibility routes (docs/compatibility.md#openai-post-v1imagesedits, docs/compatibility.md#replicate-predictions) speak their own error shapes: an `ErrorShape`
claims the paths of its routes and re-spells the same error there, so every error is
raised once, as an `ApiError`, whatever the route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

# Codes for errors that Starlette or FastAPI raise without knowing ours.
_CODE_BY_STATUS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDIT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
}

_JSON_SUBTYPE = "json"


class ApiError(StarletteHTTPException):
    """An error with a stable `code`.

    It subclasses Starlette's HTTPException on purpose: FastAPI re-raises that type
    unchanged when it escapes body parsing (e.g. the body-size limit), where any other
    exception would be turned into a generic 400.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message
        self.errors = errors
        # Fields added next to the envelope's three (readiness puts its checks here).
        self.extra = dict(extra) if extra else {}


def envelope(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors}


def error_response(
    status_code: int,
    code: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = envelope(code, message, errors)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status_code, headers=dict(headers) if headers else None)


class ErrorShape(Protocol):
    """How the routes under some paths spell an error."""

    def matches(self, path: str) -> bool: ...

    def render(
        self, status_code: int, code: str, message: str, errors: list[dict[str, Any]] | None
    ) -> tuple[int, dict[str, Any]]:
        """(status, body) of the error in this shape; a shape may re-map the status."""
        ...


def shaped_error_response(
    path: str,
    shapes: Sequence[ErrorShape],
    status_code: int,
    code: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """The error in the shape of the route at `path`: a compatibility shape, else the envelope."""
    for shape in shapes:
        if shape.matches(path):
            status, body = shape.render(status_code, code, message, errors)
            return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)
    return error_response(status_code, code, message, errors, headers, extra)


def _shapes(request: Request) -> Sequence[ErrorShape]:
    return getattr(request.app.state, "error_shapes", ())


def field_errors(
    raw: Iterable[Mapping[str, Any]], prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    """Pydantic's error dicts reduced to the wire's `{loc, msg, type}` (input and ctx can hold secrets)."""
    return [
        {
            "loc": [*prefix, *err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in raw
    ]


def validation_error(errors: list[dict[str, Any]], message: str | None = None) -> ApiError:
    return ApiError(422, "VALIDATION_ERROR", message or _summary(errors), errors=errors)


def invalid_cursor(parameter: str, given_as: str) -> ApiError:
    """The 422 for a page cursor that is not one this API returned (the list routes)."""
    return validation_error(
        [
            {
                "loc": ["query", parameter],
                "msg": f"invalid cursor; pass {given_as} as returned",
                "type": "value_error",
            }
        ]
    )


def _summary(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "The request is invalid."
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid request: {where}: {first['msg']}{more}"


def _is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == _JSON_SUBTYPE or sub.endswith("+" + _JSON_SUBTYPE))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    path, shapes = request.url.path, _shapes(request)
    if isinstance(exc, ApiError):
        return shaped_error_response(
            path, shapes, exc.status_code, exc.code, exc.message, exc.errors, exc.headers, exc.extra
        )
    code = _CODE_BY_STATUS.get(exc.status_code, "HTTP_ERROR")
    if exc.status_code == 404:
        message = f"No route for {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        # Starlette names only the methods of the first route that matched the path.
        headers = {**(exc.headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return shaped_error_response(path, shapes, 405, code, message, headers=headers)
    else:
        message = str(exc.detail)
    return shaped_error_response(path, shapes, exc.status_code, code, message, headers=exc.headers)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app takes on this path (asked route by route, as routing does)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    path, shapes = request.url.path, _shapes(request)
    raw = list(exc.errors())
    # A body that is not JSON at all is a 400 (docs/api.md#errors), not a field-level 422.
    if any(err.get("type") == "json_invalid" for err in raw):
        return shaped_error_response(path, shapes, 400, "BAD_REQUEST", "The request body is not valid JSON.")
    expects_body = any(tuple(err.get("loc", ()))[:1] == ("body",) for err in raw)
    if expects_body and not _is_json_content_type(request.headers.get("content-type")):
        return shaped_error_response(
            path,
            shapes,
            400,
            "BAD_REQUEST",
            "The request body must be JSON (Content-Type: application/json).",
        )
    if any(tuple(err.get("loc", ())) == ("body",) and err.get("type") == "missing" for err in raw):
        return shaped_error_response(path, shapes, 400, "BAD_REQUEST", "A JSON request body is required.")
    errors = field_errors(raw)
    return shaped_error_response(path, shapes, 422, "VALIDATION_ERROR", _summary(errors), errors)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
