"""What can go wrong when talking to Aurora, in the terms the pipeline stages act on.

Stages branch on the class, not on status codes: retry later (`retryable`), park the company until
someone fixes its key (`InvalidCredentials`, `NotPermitted`), or drop the message (`NotFound`,
`PermanentAuroraError`).
"""

# The class names are the pipeline's vocabulary (NotFound, RateLimited, ...), not generic "...Error"s.
# ruff: noqa: N818

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson


class AuroraError(Exception):
    """Base class; `message` is Aurora's `errors[].message` joined, already stripped of the token."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.endpoint = endpoint

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        where = f"{self.endpoint}: " if self.endpoint else ""
        return f"{where}{status}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, endpoint={self.endpoint!r}, message={self.message!r})"


class InvalidCredentials(AuroraError):
    """401: the key is unknown, revoked, or belongs to the other environment."""


class NotPermitted(AuroraError):
    """403: a restricted key lacks this operation (or a signed file URL expired). Retrying cannot help."""


class NotFound(AuroraError):
    """404: missing, deleted, another tenant's, or an ID from the other environment."""


class RateLimited(AuroraError):
    """429 after the client's own retries; `retry_after` is seconds to wait, when Aurora said."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        endpoint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, endpoint={self.endpoint!r}, "
            f"message={self.message!r}, retry_after={self.retry_after!r})"
        )


class TransientAuroraError(AuroraError):
    """Timeouts, connection failures and 5xx: worth trying again later."""

    retryable = True


class PermanentAuroraError(AuroraError):
    """Any other 4xx (400, 405, 409, 422, ...) or a response the client cannot make sense of."""


class InvalidRequest(PermanentAuroraError):
    """422: Aurora refused the body. `field_errors` maps each field Aurora named to messages in plain words.

    Aurora documents no per-field key in its error body (`{"errors": [{"message": ...}]}`, services/aurora_sim
    README), but its validation messages start with the field's name (`"customer_email must be a string"`);
    a message that names no field is filed under `""`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 422,
        endpoint: str = "",
        messages: Sequence[str] = (),
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.messages = list(messages) or [message]
        self.field_errors: dict[str, list[str]] = {}
        for text in self.messages:
            field, plain = plain_field_error(text)
            self.field_errors.setdefault(field, []).append(plain)


_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*) (?P<rest>.+)$")
# Aurora's wording where a person would not follow it; anything else is kept as Aurora said it.
_PLAIN_PHRASES = {
    "must be a string": "must be text",
    "must be a number": "must be a number",
    "must be an array of strings": "must be a list of text values",
}
_LABEL_WORDS = {"id": "ID"}


def field_label(field: str) -> str:
    """`customer_email` → "Customer email", `location.property_address` → "Property address"."""
    words = field.rsplit(".", 1)[-1].split("_")
    text = " ".join(_LABEL_WORDS.get(w, w) for w in words)
    return text[:1].upper() + text[1:]


def plain_field_error(message: str) -> tuple[str, str]:
    """(field, plain message) for one Aurora validation message; field is "" when none is named."""
    match = _FIELD_MESSAGE.match(message.strip())
    if match is None:
        return "", message.strip()
    field, rest = match.group("field"), match.group("rest")
    return field, f"{field_label(field)} {_PLAIN_PHRASES.get(rest, rest)}"


class UnexpectedResponse(PermanentAuroraError):
    """A 2xx whose body is not the documented envelope."""


class ResponseTooLarge(PermanentAuroraError):
    """A file download exceeded the caller's size limit."""


class DownloadRefused(PermanentAuroraError):
    """A file URL outside the allowed schemes and hosts (SSRF guard): never fetched."""


class FileJobFailed(PermanentAuroraError):
    """Aurora reported a file-producing job (signed-agreement download URL, proposal PDF) as failed."""


class AgreementDownloadFailed(FileJobFailed):
    """Aurora reported the signed-agreement download job as failed."""


class FileUnavailable(PermanentAuroraError):
    """A pre-signed file URL answered 401, 403, 404 or 410 (expired, revoked or gone).

    Deliberately not `InvalidCredentials`/`NotPermitted`: the URL is its own credential, so its refusal says
    nothing about the company's API token. A fresh URL (re-read from Aurora's API) may well work.
    """


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def error_messages(body: bytes) -> str:
    """Aurora's `{"errors": [{"message": ...}]}` joined; a short excerpt of anything else."""
    return "; ".join(m for m in error_message_list(body) if m)


def error_message_list(body: bytes) -> list[str]:
    """Each of Aurora's `{"errors": [{"message": ...}]}`; a short excerpt of anything else."""
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return [body[:200].decode("utf-8", "replace").strip()]
    if isinstance(data, Mapping):
        errors = data.get("errors")
        if isinstance(errors, list):
            messages = [
                str(item.get("message")) if isinstance(item, Mapping) and "message" in item else str(item)
                for item in errors
            ]
            if messages:
                return messages
        if isinstance(errors, str):
            return [errors]
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return [str(data[key])]
    return [body[:200].decode("utf-8", "replace").strip()]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: Aurora sends integer seconds, but HTTP also allows a date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_for_status(
    status: int,
    body: bytes,
    *,
    endpoint: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> AuroraError:
    messages = [redact(m, secrets) for m in error_message_list(body) if m]
    message = "; ".join(messages) or f"HTTP {status}"
    if status == 401:
        return InvalidCredentials(message, status=status, endpoint=endpoint)
    if status == 403:
        return NotPermitted(message, status=status, endpoint=endpoint)
    if status == 404:
        return NotFound(message, status=status, endpoint=endpoint)
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        return RateLimited(message, status=status, endpoint=endpoint, retry_after=retry_after)
    # 408 is the server giving up on a slow request, not a verdict on its content.
    if status >= 500 or status == 408:
        return TransientAuroraError(message, status=status, endpoint=endpoint)
    if status == 422:
        return InvalidRequest(message, status=status, endpoint=endpoint, messages=messages)
    return PermanentAuroraError(message, status=status, endpoint=endpoint)
