"""Typed errors: one class per wire error `code` (docs/api.md#errors), plus the client's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelrun.client.models import Run


class PixelrunError(Exception):
    """Base of every error this client raises."""


class APIError(PixelrunError):
    """The server answered with an error envelope `{"code", "message", "errors"}`."""

    code: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        if code is not None:
            self.code = code
        self.errors = errors
        self.headers = headers or {}

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"


class BadRequestError(APIError):
    code = "BAD_REQUEST"


class UnauthorizedError(APIError):
    code = "UNAUTHORIZED"


class InsufficientCreditError(APIError):
    code = "INSUFFICIENT_CREDIT"


class NotFoundError(APIError):
    code = "NOT_FOUND"


class RunNotFoundError(NotFoundError):
    code = "RUN_NOT_FOUND"


class ModelNotFoundError(NotFoundError):
    code = "MODEL_NOT_FOUND"


class ConflictError(APIError):
    code = "CONFLICT"


class PayloadTooLargeError(APIError):
    code = "PAYLOAD_TOO_LARGE"


class ValidationError(APIError):
    """422: `errors` lists `{"loc", "msg", "type"}` per bad field."""

    code = "VALIDATION_ERROR"


class RateLimitedError(APIError):
    code = "RATE_LIMITED"

    @property
    def retry_after(self) -> float | None:
        return _seconds(self.headers.get("retry-after"))


class UnavailableError(APIError):
    code = "UNAVAILABLE"


class ModelUnavailableError(UnavailableError):
    code = "MODEL_UNAVAILABLE"


ERROR_CLASSES: dict[str, type[APIError]] = {
    cls.code: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        InsufficientCreditError,
        NotFoundError,
        RunNotFoundError,
        ModelNotFoundError,
        ConflictError,
        PayloadTooLargeError,
        ValidationError,
        RateLimitedError,
        UnavailableError,
        ModelUnavailableError,
    )
}


class APIConnectionError(PixelrunError):
    """The server could not be reached (after the retries)."""


class WaitTimeoutError(PixelrunError):
    """A run was not terminal within the time given to `wait`."""

    def __init__(self, run: Run, timeout: float) -> None:
        super().__init__(f"run {run.id} still {run.status_code} after {timeout:g} s")
        self.run = run


class RunError(PixelrunError):
    """A run ended without output; `run` is the terminal run."""

    def __init__(self, run: Run) -> None:
        detail = f": {run.failure_code}: {run.failure_message}" if run.failure_code else ""
        super().__init__(f"run {run.id} {run.status_code}{detail}")
        self.run = run
        self.failure_code = run.failure_code
        self.failure_message = run.failure_message
        self.failure_stage_code = run.failure_stage_code


class RunFailedError(RunError):
    """The run failed (see `failure_code`, `failure_message`, `failure_stage_code`)."""


class RunCanceledError(RunError):
    """The run was canceled (by a cancel request or its deadline)."""


def error_from_response(status_code: int, body: Any, headers: dict[str, str]) -> APIError:
    """The typed error for an HTTP error answer (envelope or not)."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code = body["code"]
        message = str(body.get("message") or code)
        errors = body.get("errors") if isinstance(body.get("errors"), list) else None
    else:
        code = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 409: "CONFLICT"}.get(
            status_code, "UNAVAILABLE" if status_code >= 500 else "ERROR"
        )
        message = body if isinstance(body, str) and body else f"HTTP {status_code}"
        errors = None
    cls = ERROR_CLASSES.get(code, APIError)
    return cls(message, status_code=status_code, code=code, errors=errors, headers=headers)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
