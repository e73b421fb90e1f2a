"""One error shape for every failure: `{"error": {"code", "message", "field"?}}`.

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
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def not_found(what: str) -> ApiError:
    # The same answer whether the id does not exist or belongs to another company.
    return ApiError(404, "not_found", f"{what} not found")


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", message, field=field)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
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
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field_name(first.get("loc", ("body",)))
        message = str(first.get("msg", "invalid value"))
        if first.get("type") == "missing":
            message = "this field is required"
        elif first.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        return error_response(422, "validation_error", f"{field}: {message}", field)

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
