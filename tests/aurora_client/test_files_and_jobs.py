"""File downloads from pre-signed URLs and the signed-agreement download job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx

from pipeline_common.aurora import (
    AgreementDownloadFailed,
    DownloadRefused,
    NotPermitted,
    ResponseTooLarge,
    TransientAuroraError,
)

from .conftest import API, CREDS, TOKEN, Harness

FILE_URL = "https://files.test/files/abc.pdf?signature=s3cr3t&expires=1"


def job(status: str, file_url: str | None = None, error: str | None = None) -> httpx.Response:
    body = {"job_id": "j1", "status": status, "file_url": file_url, "error": error, "requested_at": None}
    return httpx.Response(202 if status == "in-progress" else 200, json={"agreement_download_url_job": body})


async def test_download_sends_no_authorization(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(FILE_URL).mock(
        return_value=httpx.Response(200, content=b"%PDF-1.4 ...", headers={"Content-Type": "application/pdf"})
    )
    downloaded = await harness.client.download(FILE_URL, max_bytes=1000)
    assert downloaded.content == b"%PDF-1.4 ..."
    assert downloaded.content_type == "application/pdf"
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert TOKEN not in str(request.headers)
    assert harness.calls[-1].endpoint == "download"


async def test_download_rejects_declared_oversize(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(FILE_URL).mock(return_value=httpx.Response(200, content=b"x" * 101))
    with pytest.raises(ResponseTooLarge) as caught:
        await harness.client.download(FILE_URL, max_bytes=100)
    assert "s3cr3t" not in str(caught.value)


async def test_download_limit_is_enforced_while_streaming(harness: Harness, respx_mock: respx.MockRouter) -> None:
    produced: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            produced.append(1)
            yield b"y" * 64

    respx_mock.get(FILE_URL).mock(return_value=httpx.Response(200, stream=endless()))  # no Content-Length
    with pytest.raises(ResponseTooLarge):
        await harness.client.download(FILE_URL, max_bytes=200)
    assert len(produced) < 10


async def test_expired_file_url_is_not_permitted(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(FILE_URL).mock(return_value=httpx.Response(403, text="expired"))
    with pytest.raises(NotPermitted):
        await harness.client.download(FILE_URL)
    assert route.call_count == 1


async def test_download_retries_transient_failures(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(FILE_URL).mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(500), httpx.Response(200, content=b"ok")]
    )
    assert (await harness.client.download(FILE_URL)).content == b"ok"
    assert len(harness.sleeps) == 2


async def test_download_gives_up(make_harness: Callable[..., Harness], respx_mock: respx.MockRouter) -> None:
    harness = make_harness(max_retries=1)
    respx_mock.get(FILE_URL).mock(side_effect=httpx.ConnectError("nope"))
    with pytest.raises(TransientAuroraError) as caught:
        await harness.client.download(FILE_URL)
    assert "s3cr3t" not in str(caught.value)


async def test_signed_agreement_file_url_polls_until_done(harness: Harness, respx_mock: respx.MockRouter) -> None:
    run = respx_mock.post(f"{API}/agreements/a1/download_url/run").mock(return_value=job("in-progress"))
    status = respx_mock.get(f"{API}/agreements/a1/download_url/status").mock(
        side_effect=[job("in-progress"), job("in-progress"), job("succeeded", FILE_URL)]
    )
    url = await harness.client.signed_agreement_file_url(CREDS, "a1", initial_delay=0.1, max_delay=0.3)
    assert url == FILE_URL
    assert run.call_count == 1
    assert status.call_count == 3
    assert status.calls.last.request.url.params["job_id"] == "j1"
    assert harness.sleeps == [0.1, 0.2, 0.3]


async def test_signed_agreement_job_failure(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/agreements/a1/download_url/run").mock(return_value=job("in-progress"))
    respx_mock.get(f"{API}/agreements/a1/download_url/status").mock(
        return_value=job("failed", error="Docusign said no")
    )
    with pytest.raises(AgreementDownloadFailed, match="Docusign said no"):
        await harness.client.signed_agreement_file_url(CREDS, "a1", initial_delay=0.0)


async def test_signed_agreement_job_is_bounded_in_time(
    make_harness: Callable[..., Harness], respx_mock: respx.MockRouter
) -> None:
    harness = make_harness()
    real: list[float] = []

    async def real_sleep(delay: float) -> None:
        real.append(delay)
        import asyncio

        await asyncio.sleep(delay)

    harness.client._sleep = real_sleep
    respx_mock.post(f"{API}/agreements/a1/download_url/run").mock(return_value=job("in-progress"))
    respx_mock.get(f"{API}/agreements/a1/download_url/status").mock(return_value=job("in-progress"))
    with pytest.raises(TransientAuroraError, match="still 'in-progress'"):
        await harness.client.signed_agreement_file_url(CREDS, "a1", max_wait=0.3, initial_delay=0.05, max_delay=0.1)
    assert sum(real) <= 0.31


async def test_unsigned_agreement_is_permanent(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/agreements/a1/download_url/run").mock(
        return_value=httpx.Response(422, json={"errors": [{"message": "Agreement is not signed"}]})
    )
    with pytest.raises(Exception, match="not signed") as caught:
        await harness.client.signed_agreement_file_url(CREDS, "a1")
    # A 422 is Aurora refusing the request: permanent (InvalidRequest is a PermanentAuroraError), never retried.
    assert caught.value.__class__.__name__ == "InvalidRequest"
    assert not getattr(caught.value, "retryable", True)
    assert route.call_count == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://files.test/files/abc.pdf",  # not https
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://internal.example/admin",  # not an allowed host
        "file:///etc/passwd",
        "https://files.test.evil.example/x",  # pattern must match the whole host
    ],
)
async def test_download_refuses_urls_outside_the_allowed_https_hosts(
    harness: Harness, respx_mock: respx.MockRouter, url: str
) -> None:
    with pytest.raises(DownloadRefused):
        await harness.client.download(url)
    assert not respx_mock.calls


async def test_download_checks_every_redirect(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(FILE_URL).mock(return_value=httpx.Response(302, headers={"Location": "http://10.0.0.1/secret"}))
    with pytest.raises(DownloadRefused):
        await harness.client.download(FILE_URL)
    allowed = "https://cdn.aurorasolar.com/f.pdf"
    respx_mock.get("https://files.test/moved").mock(return_value=httpx.Response(301, headers={"Location": allowed}))
    respx_mock.get(allowed).mock(return_value=httpx.Response(200, content=b"ok"))
    assert (await harness.client.download("https://files.test/moved")).content == b"ok"
