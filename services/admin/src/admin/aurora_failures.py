"""Aurora's failures as the admin API answers them: one place turns an AuroraError into an ApiError."""

from __future__ import annotations

from typing import Any

from admin.errors import ApiError
from admin.resources import Resources
from admin.store import (
    mark_needs_attention,
)
from pipeline_common.aurora import (
    AuroraError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    RateLimited,
)

# ---------------------------------------------------------------- Aurora failures → API errors


def aurora_failure(exc: AuroraError, *, verifying: bool) -> ApiError:
    """Map the client's error taxonomy onto our answers; Aurora's own reason goes into the message."""
    if isinstance(exc, InvalidCredentials):
        return ApiError(422, "invalid_credentials", f"Aurora rejected the bearer token: {exc.message}")
    if isinstance(exc, NotFound) and verifying:
        return ApiError(
            422,
            "invalid_credentials",
            f"Aurora does not know this tenant id for this key ({exc.message}); check the tenant id and that "
            "key and tenant are from the same environment",
        )
    if isinstance(exc, NotPermitted):
        return ApiError(422, "insufficient_permissions", f"the Aurora key is not allowed to do this: {exc.message}")
    if isinstance(exc, RateLimited):
        return ApiError(503, "aurora_rate_limited", "Aurora's rate limit for this key is exhausted; retry shortly")
    if exc.retryable:
        return ApiError(502, "aurora_unavailable", f"Aurora could not be reached ({exc}); nothing was saved")
    return ApiError(502, "aurora_error", f"Aurora answered unexpectedly: {exc}")


async def aurora_error(res: Resources, row: Any, exc: AuroraError) -> ApiError:
    # A key rejected later (revoked, expired) is the company's to fix: say so on the integration too.
    if isinstance(exc, InvalidCredentials):
        await mark_needs_attention(res, row, f"Aurora rejected the stored token: {exc.message}")
    return aurora_failure(exc, verifying=False)
