"""The API token must never leak into exceptions, reprs or logs, even when Aurora echoes it back."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from pipeline_common.aurora import AuroraError, InvalidCredentials, TransientAuroraError

from .conftest import API, CREDS, TOKEN, Harness


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
        assert TOKEN[8:] not in text


def test_credentials_repr_masks_token() -> None:
    assert_clean(repr(CREDS), str(CREDS), CREDS.model_dump_json())


async def test_echoed_token_is_redacted_from_errors(
    harness: Harness, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    respx_mock.get(API).mock(
        return_value=httpx.Response(401, json={"errors": [{"message": f"Invalid API key {TOKEN}"}]})
    )
    with pytest.raises(InvalidCredentials) as caught:
        await harness.client.retrieve_tenant(CREDS)
    error = caught.value
    assert "[REDACTED]" in error.message
    assert_clean(str(error), repr(error), error.message, caplog.text, repr(harness.client))


async def test_retries_and_transport_errors_log_without_token(
    harness: Harness, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    respx_mock.get(API).mock(
        side_effect=[
            httpx.Response(503, text=f"upstream said {TOKEN}"),
            httpx.ConnectError(f"could not connect with {TOKEN}"),
            httpx.Response(429, headers={"Retry-After": "0"}, text=f"slow down {TOKEN}"),
            httpx.ReadTimeout(f"timed out {TOKEN}"),
        ]
    )
    with pytest.raises(TransientAuroraError) as caught:
        await harness.client.retrieve_tenant(CREDS)
    assert len([r for r in caplog.records if r.name == "pipeline_common.aurora"]) == 3
    assert_clean(str(caught.value), repr(caught.value), caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage(), repr(record.__dict__))


async def test_non_json_error_excerpt_is_redacted(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{API}/users").mock(return_value=httpx.Response(400, text=f"<pre>Bearer {TOKEN}</pre>"))
    with pytest.raises(AuroraError) as caught:
        await harness.client.list_users(CREDS)
    assert_clean(str(caught.value), repr(caught.value))
