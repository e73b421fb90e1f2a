"""How a stage classifies a failure: transient ones are retried later, permanent ones dead-lettered now."""

from __future__ import annotations


class StageError(Exception):
    """Base for failures a stage raises on purpose, with a stable machine-readable code."""

    code = "stage_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class TransientError(StageError):
    """Worth retrying: a dependency was unavailable, slow or rate limited."""

    code = "transient"


class PermanentError(StageError):
    """Retrying cannot help: bad data, a rejected request, a broken mapping."""

    code = "permanent"
