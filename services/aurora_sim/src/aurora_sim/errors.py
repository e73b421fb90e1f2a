from typing import Any

import orjson
from starlette.responses import Response


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}]}


class AuroraError(Exception):
    """Raised anywhere in a request; rendered as Aurora's `{"errors":[{"message":…}]}` body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        return JSONBytes(error_body(self.message), status_code=self.status, headers=self.headers)


NOT_FOUND = "Not found"


def not_found() -> AuroraError:
    return AuroraError(404, NOT_FOUND)


def unprocessable(message: str) -> AuroraError:
    return AuroraError(422, message)
