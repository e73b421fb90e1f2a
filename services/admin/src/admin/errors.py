"""One error shape for every failure: `{"error": {"code", "message", "field"?, "errors"?}}`.

A 422 for a body names its first bad field in `field` and every bad field in `errors` (`[{field, message}]`),
so a form can mark them all at once.

The code is stable and machine-readable (a settings page branches on it); the message is for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline_common.logs import get_logger

log = get_logger("admin.errors")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.errors = errors


def not_found(what: str) -> ApiError:
    # The same answer whether the id does not exist or belongs to another company.
    return ApiError(404, "not_found", f"{what} not found")


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", message, field=field)


def field_errors(errors: list[tuple[str, str]]) -> ApiError:
    """A 422 naming every bad field: `errors` is [(field, message)], the first also in `field`/`message`."""
    field, message = errors[0]
    return ApiError(
        422,
        "validation_error",
        f"{field}: {message}",
        field=field,
        errors=[{"field": f, "message": m} for f, m in errors],
    )


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    errors: list[FieldError] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, field: str | None = None, errors: list[dict[str, str]] | None = None
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    if errors:
        detail["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "triggers", 0, "statuses") → "triggers[0].statuses"; the "body"/"query" prefix says nothing.
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _message(error: Any) -> str:
    if error.get("type") == "missing":
        return "this field is required"
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    # pydantic prefixes a validator's ValueError with "Value error, "; the reader wants the sentence.
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors() or [{"loc": ("body",), "msg": "invalid request"}]
        named = [(_field_name(e.get("loc", ("body",))), _message(e)) for e in errors]
        field, message = named[0]
        every = [{"field": f, "message": m} for f, m in named]
        return error_response(422, "validation_error", f"{field}: {message}", field, every)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers a route can give, with examples."""
    examples = {
        401: ("unauthorized", "missing or unknown API key"),
        404: ("not_found", "project not found"),
        409: ("already_connected", "the company already has a connected Aurora integration"),
        422: ("validation_error", "name: this field is required"),
        502: ("aurora_unavailable", "Aurora could not be reached; nothing was saved"),
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, message = examples.get(status, ("error", "error"))
        body: dict[str, Any] = {"code": code, "message": message}
        if status == 422:
            body["field"] = "name"
        out[status] = {"model": ErrorBody, "content": {"application/json": {"example": {"error": body}}}}
    return out
