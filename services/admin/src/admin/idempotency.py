"""`Idempotency-Key` on the POSTs that make CRM records: a client that retries after a timeout gets the
answer of its first call instead of a second record.

- Same key, same route, same body → the stored answer (status and body), with `Idempotent-Replayed: true`.
- Same key with another body or on another route → 422 `idempotency_key_reused`; nothing is made.
- The key is claimed in the transaction that makes the record and its answer is stored before that commits:
  a concurrent call with the same key waits for the first and then replays it; a call that fails (a 422)
  rolls its claim back, so the key can be used again with a corrected body.
- Keys are scoped to the company and remembered for 24 hours, like Stripe's.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from admin.errors import ApiError
from admin.record_input import Conn
from admin.resources import Resources
from pipeline_common.field_history import declare_change
from pipeline_common.vocabulary import ChangeSource

KEY_LIFETIME: Final = "24 hours"
REPLAYED_HEADER: Final = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID) chosen by the client: a retry with the same key and body "
        "answers what the first call answered and makes nothing twice. Remembered for 24 hours.",
    ),
]


Make = Callable[[Conn], Awaitable[BaseModel]]

IDEMPOTENCY_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    422: {
        "description": "Invalid body, or an `Idempotency-Key` already used with another body",
        "content": {
            "application/json": {
                "examples": {
                    "field_errors": {
                        "value": {
                            "error": {
                                "code": "validation_error",
                                "message": "postal_code: an address needs a street and a postal code",
                                "field": "postal_code",
                                "errors": [
                                    {"field": "postal_code", "message": "an address needs a street and a postal code"},
                                    {"field": "value", "message": "Input should be greater than or equal to 0"},
                                ],
                            }
                        }
                    },
                    "key_reused": {
                        "value": {
                            "error": {
                                "code": "idempotency_key_reused",
                                "message": "this Idempotency-Key was used with another request body; "
                                "use a new key for a new request",
                            }
                        }
                    },
                }
            }
        },
    }
}


def _fingerprint(route: str, body: BaseModel) -> bytes:
    # The parsed body, keys sorted: whitespace or key order in the JSON is not "another body".
    canonical = orjson.dumps(body.model_dump(mode="json", exclude_unset=True), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(route.encode() + b"\n" + canonical).digest()


async def create_once(
    res: Resources,
    company_id: uuid.UUID,
    key: str | None,
    route: str,
    body: BaseModel,
    make: Make,
    status_code: int = 201,
) -> JSONResponse:
    """Run `make` in one transaction and answer its result, or the stored answer of an earlier call with `key`."""
    fingerprint = _fingerprint(route, body)
    async with res.pool.acquire() as conn, conn.transaction():
        await declare_change(conn, ChangeSource.API)
        if key is not None:
            # Forgetting the company's expired keys here keeps the table at a day of POSTs without a sweeper.
            await conn.execute(
                "DELETE FROM idempotency_keys WHERE company_id = $1 AND created_at < now() - $2::text::interval",
                company_id,
                KEY_LIFETIME,
            )
            claimed = await conn.fetchval(
                "INSERT INTO idempotency_keys (company_id, key, route, request_sha256) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT DO NOTHING RETURNING true",
                company_id,
                key,
                route,
                fingerprint,
            )
            if not claimed:
                return await _replay(conn, company_id, key, fingerprint)
        made = await make(conn)
        payload = made.model_dump(mode="json")
        if key is not None:
            await conn.execute(
                "UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE company_id = $1 AND key = $2",
                company_id,
                key,
                status_code,
                payload,
            )
    return JSONResponse(payload, status_code=status_code)


async def _replay(conn: Conn, company_id: uuid.UUID, key: str, fingerprint: bytes) -> JSONResponse:
    stored = await conn.fetchrow(
        "SELECT request_sha256, status_code, response FROM idempotency_keys WHERE company_id = $1 AND key = $2",
        company_id,
        key,
    )
    if stored is None or stored["status_code"] is None:
        # Expired and purged by a concurrent call between our claim and this read: rare, and safe to retry.
        raise ApiError(409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress; retry")
    if bytes(stored["request_sha256"]) != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request body; use a new key for a new request",
            field="Idempotency-Key",
        )
    return JSONResponse(stored["response"], status_code=stored["status_code"], headers={REPLAYED_HEADER: "true"})
