"""File downloads from pre-signed URLs and the signed-agreement download job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
from pydantic import ValidationError

from pipeline_common.aurora import (
    AgreementDownloadFailed,
    AuroraSettings,
    DownloadRefused,
    FileJobFailed,
    FileUnavailable,
    InvalidCredentials,
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


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_a_refused_file_url_is_unavailable_never_a_token_problem(
    harness: Harness, respx_mock: respx.MockRouter, status: int
) -> None:
    # An expired pre-signed URL (403) or a storage 401 says nothing about the company's Aurora token.
    route = respx_mock.get(FILE_URL).mock(return_value=httpx.Response(status, text="Request has expired"))
    with pytest.raises(FileUnavailable) as caught:
        await harness.client.download(FILE_URL)
    assert not isinstance(caught.value, InvalidCredentials | NotPermitted)
    assert caught.value.status == status
    assert "signature" not in str(caught.value)
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


@pytest.mark.parametrize(
    "url",
    [
        "https://aurora.test:8081/v1/companies",  # the emulator's host, another port (the admin API)
        "http://aurora.test/files/abc.pdf",  # the emulator's host and default port, another scheme
        "https://files.test:8443/files/abc.pdf",  # an allowed storage host, but not on 443
    ],
)
async def test_download_compares_scheme_host_and_port(harness: Harness, respx_mock: respx.MockRouter, url: str) -> None:
    with pytest.raises(DownloadRefused):
        await harness.client.download(url)
    assert not respx_mock.calls


async def test_the_emulator_override_allows_exactly_its_own_origin(
    make_harness: Callable[..., Harness], respx_mock: respx.MockRouter
) -> None:
    harness = make_harness(base_url="http://127.0.0.1:8090")
    respx_mock.get("http://127.0.0.1:8090/files/f/a.pdf").mock(return_value=httpx.Response(200, content=b"ok"))
    assert (await harness.client.download("http://127.0.0.1:8090/files/f/a.pdf")).content == b"ok"
    for other in ("http://127.0.0.1:8081/v1/companies", "http://127.0.0.1/files/f/a.pdf", "https://127.0.0.1:8090/"):
        with pytest.raises(DownloadRefused):
            await harness.client.download(other)
    assert len(respx_mock.calls) == 1


def test_storage_hosts_are_named_narrowly_by_default_and_in_settings() -> None:
    defaults = AuroraSettings(_env_file=None)
    assert defaults.allowed_file_host_patterns() == ["*.aurorasolar.com"]
    named = AuroraSettings(download_allowed_hosts="*.aurorasolar.com, aurora-assets.s3.us-west-2.amazonaws.com")
    assert named.allowed_file_host_patterns()[1] == "aurora-assets.s3.us-west-2.amazonaws.com"
    for broad in ("*.amazonaws.com", "*.s3.amazonaws.com", "aurora-*.s3.amazonaws.com", "*.cloudfront.net", "*"):
        with pytest.raises(ValidationError, match="name storage hosts exactly"):
            AuroraSettings(download_allowed_hosts=f"*.aurorasolar.com,{broad}")


async def test_default_hosts_refuse_someone_elses_bucket(
    make_harness: Callable[..., Harness], respx_mock: respx.MockRouter
) -> None:
    default_hosts = AuroraSettings.model_fields["download_allowed_hosts"].default
    harness = make_harness(download_allowed_hosts=default_hosts, base_url=None)
    for url in ("https://attacker.s3.amazonaws.com/x", "https://ec2-1-2-3-4.compute-1.amazonaws.com/x"):
        with pytest.raises(DownloadRefused):
            await harness.client.download(url)
    assert not respx_mock.calls


def pdf_job(status: str, file_url: str | None = None, error: str | None = None) -> httpx.Response:
    body = {"job_id": "p1", "status": status, "file_url": file_url, "error": error, "design_id": "d1"}
    return httpx.Response(202 if status == "in-progress" else 200, json={"proposal_pdf_generation_job": body})


async def test_proposal_pdf_runs_the_modeled_job_and_polls(harness: Harness, respx_mock: respx.MockRouter) -> None:
    run = respx_mock.post(f"{API}/designs/d1/proposal_pdf_generation/run").mock(return_value=pdf_job("in-progress"))
    status = respx_mock.get(f"{API}/designs/d1/proposal_pdf_generation/status").mock(
        side_effect=[pdf_job("in-progress"), pdf_job("succeeded", FILE_URL)]
    )
    assert await harness.client.proposal_pdf_file_url(CREDS, "d1") == FILE_URL
    assert run.call_count == 1
    assert status.call_count == 2
    assert status.calls.last.request.url.params["job_id"] == "p1"
    assert run.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_proposal_pdf_job_failure_and_slowness(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/designs/d1/proposal_pdf_generation/run").mock(return_value=pdf_job("in-progress"))
    status = respx_mock.get(f"{API}/designs/d1/proposal_pdf_generation/status")
    status.mock(return_value=pdf_job("failed", error="template has no pages"))
    with pytest.raises(FileJobFailed, match="template has no pages"):
        await harness.client.proposal_pdf_file_url(CREDS, "d1")
    status.mock(return_value=pdf_job("in-progress"))
    with pytest.raises(TransientAuroraError, match="still 'in-progress'"):
        await harness.client.proposal_pdf_file_url(CREDS, "d1", max_wait=0.2)


async def test_download_checks_every_redirect(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(FILE_URL).mock(return_value=httpx.Response(302, headers={"Location": "http://10.0.0.1/secret"}))
    with pytest.raises(DownloadRefused):
        await harness.client.download(FILE_URL)
    allowed = "https://cdn.aurorasolar.com/f.pdf"
    respx_mock.get("https://files.test/moved").mock(return_value=httpx.Response(301, headers={"Location": allowed}))
    respx_mock.get(allowed).mock(return_value=httpx.Response(200, content=b"ok"))
    assert (await harness.client.download("https://files.test/moved")).content == b"ok"
