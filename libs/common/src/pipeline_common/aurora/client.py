"""The one Aurora API client of a process: many companies (credentials per call), one connection pool, one
per-key rate limiter, bounded retries, and typed responses.

Every path and envelope here follows the contract table in services/aurora_sim/README.md.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import SplitResult, quote, urlsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from pipeline_common.aurora.environment import base_url_for
from pipeline_common.aurora.errors import (
    AgreementDownloadFailed,
    AuroraError,
    DownloadRefused,
    FileJobFailed,
    FileUnavailable,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    TransientAuroraError,
    UnexpectedResponse,
    error_for_status,
    error_messages,
    redact,
)
from pipeline_common.aurora.models import (
    Agreement,
    AgreementDownloadJob,
    Asset,
    ConsumptionProfile,
    Design,
    DesignSummary,
    Financing,
    NewProject,
    NewWebhook,
    Pricing,
    Project,
    Proposal,
    ProposalPdfJob,
    Tenant,
    User,
    Webhook,
    WebhookUpdate,
    WebProposal,
)
from pipeline_common.aurora.rate_limit import RateLimiter, api_key_fingerprint
from pipeline_common.aurora.settings import AuroraSettings

logger = logging.getLogger("pipeline_common.aurora")

M = TypeVar("M", bound=BaseModel)

MAX_PER_PAGE: Final = 250
# What a pre-signed storage URL answers when it expired, was revoked or its object is gone.
FILE_URL_REFUSALS: Final = frozenset({401, 403, 404, 410})
DEFAULT_PER_PAGE: Final = 100


class AuroraCredentials(BaseModel):
    """One company's Aurora access. The token is a SecretStr so reprs and logs show a mask."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    token: SecretStr

    @property
    def key_fingerprint(self) -> str:
        return api_key_fingerprint(self.token)


@dataclass(frozen=True, slots=True)
class AuroraCall:
    """One HTTP attempt, for metrics. `status` is None when no response arrived (`error` then names why)."""

    endpoint: str
    status: int | None
    attempt: int
    duration_seconds: float
    rate_limit_wait_seconds: float
    error: str | None = None


CallHook = Callable[[AuroraCall], None]


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    content: bytes
    content_type: str | None

    @property
    def size(self) -> int:
        return len(self.content)


def _segment(value: str) -> str:
    # IDs can come from webhook query strings; quoting keeps a crafted value from changing the path.
    return quote(str(value), safe="")


def _port_of(parts: SplitResult) -> int | None:
    """The port a URL connects to (the scheme's default when none is written); None if it is malformed."""
    try:
        explicit = parts.port
    except ValueError:
        return None
    return explicit if explicit is not None else {"https": 443, "http": 80}.get(parts.scheme)


def _redacted_url(url: str) -> str:
    # Signed file URLs carry their signature in the query; log only where they point.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class AuroraClient:
    """Use as `async with AuroraClient(settings) as aurora:`, or call `aclose()` at shutdown."""

    def __init__(
        self,
        settings: AuroraSettings | None = None,
        *,
        limiter: RateLimiter | None = None,
        on_call: CallHook | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings or AuroraSettings()
        s = self.settings
        self.limiter = limiter or RateLimiter(s.requests_per_minute, window_seconds=s.rate_limit_window_seconds)
        self._on_call = on_call
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=s.connect_timeout, read=s.read_timeout, write=s.write_timeout, pool=s.pool_timeout
            ),
            limits=httpx.Limits(
                max_connections=s.max_connections,
                max_keepalive_connections=s.max_keepalive_connections,
                keepalive_expiry=s.keepalive_expiry,
            ),
            http1=True,
            http2=False,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": s.user_agent},
        )

    async def __aenter__(self) -> AuroraClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"AuroraClient(base_url={self.settings.base_url!r})"

    # --- tenant -------------------------------------------------------------------------------------

    async def retrieve_tenant(self, creds: AuroraCredentials) -> Tenant:
        """Also the cheapest credential check: 401/403/404 here mean the company's setup is wrong."""
        data = await self._call(creds, "GET", "retrieve_tenant", "")
        return self._one(data, "tenant", Tenant, "retrieve_tenant")

    # --- projects -----------------------------------------------------------------------------------

    async def list_projects(
        self, creds: AuroraCredentials, page: int = 1, per_page: int = DEFAULT_PER_PAGE
    ) -> list[Project]:
        data = await self._call(creds, "GET", "list_projects", "/projects", params=self._page_params(page, per_page))
        return self._many(data, "projects", Project, "list_projects")

    async def iter_projects(self, creds: AuroraCredentials, per_page: int = DEFAULT_PER_PAGE) -> AsyncIterator[Project]:
        """All projects, newest first. Aurora returns no totals, so a short page is the last one."""
        page = 1
        while True:
            batch = await self.list_projects(creds, page=page, per_page=per_page)
            for project in batch:
                yield project
            if len(batch) < per_page:
                return
            page += 1

    async def retrieve_project(self, creds: AuroraCredentials, project_id: str) -> Project:
        data = await self._call(creds, "GET", "retrieve_project", f"/projects/{_segment(project_id)}")
        return self._one(data, "project", Project, "retrieve_project")

    async def newest_projects(self, creds: AuroraCredentials, count: int = DEFAULT_PER_PAGE) -> list[Project]:
        """The tenant's `count` most recently created projects, newest first (fewer if it has fewer).

        List Projects is sorted by created_at descending, so these are its first pages.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        found: list[Project] = []
        per_page = min(count, MAX_PER_PAGE)
        page = 1
        while len(found) < count:
            batch = await self.list_projects(creds, page=page, per_page=per_page)
            found.extend(batch)
            if len(batch) < per_page:
                break
            page += 1
        return found[:count]

    async def find_recent_project(
        self, creds: AuroraCredentials, external_provider_id: str, search_depth: int = MAX_PER_PAGE
    ) -> Project | None:
        """The newest project carrying our `external_provider_id` among the tenant's `search_depth` newest.

        Aurora has no filter on external_provider_id and no idempotency keys: after a create whose answer
        was lost, this is how a caller learns whether the project exists before POSTing again.
        """
        for project in await self.newest_projects(creds, search_depth):
            if project.external_provider_id == external_provider_id:
                return project
        return None

    async def create_project(self, creds: AuroraCredentials, project: NewProject | Mapping[str, Any]) -> Project:
        """Creates the project; every None is left out of the body (Aurora refuses `null` optional strings).

        A refused body raises `InvalidRequest` with Aurora's messages by field. Not retried once sent:
        check `find_recent_project` before trying again.
        """
        body = project if isinstance(project, NewProject) else NewProject.model_validate(project)
        data = await self._call(
            creds,
            "POST",
            "create_project",
            "/projects",
            json={"project": body.model_dump(mode="json", exclude_none=True)},
            # Aurora has no idempotency keys: a retried create after a lost response makes a duplicate.
            idempotent=False,
        )
        return self._one(data, "project", Project, "create_project")

    # --- designs ------------------------------------------------------------------------------------

    async def list_designs(
        self,
        creds: AuroraCredentials,
        project_id: str,
        page: int | None = None,
        per_page: int | None = None,
    ) -> list[Design]:
        data = await self._call(
            creds,
            "GET",
            "list_designs",
            f"/projects/{_segment(project_id)}/designs",
            params=self._page_params(page, per_page),
        )
        return self._many(data, "designs", Design, "list_designs")

    async def retrieve_design(self, creds: AuroraCredentials, design_id: str) -> Design:
        data = await self._call(creds, "GET", "retrieve_design", f"/designs/{_segment(design_id)}")
        return self._one(data, "design", Design, "retrieve_design")

    async def retrieve_design_summary(self, creds: AuroraCredentials, design_id: str) -> DesignSummary:
        data = await self._call(creds, "GET", "retrieve_design_summary", f"/designs/{_segment(design_id)}/summary")
        return self._one(data, "design", DesignSummary, "retrieve_design_summary")

    async def retrieve_pricing(self, creds: AuroraCredentials, design_id: str) -> Pricing:
        data = await self._call(creds, "GET", "retrieve_pricing", f"/designs/{_segment(design_id)}/pricing")
        return self._one(data, "pricing", Pricing, "retrieve_pricing")

    # --- financings ---------------------------------------------------------------------------------

    async def list_financings(
        self,
        creds: AuroraCredentials,
        design_id: str,
        page: int | None = None,
        per_page: int | None = None,
    ) -> list[Financing]:
        data = await self._call(
            creds,
            "GET",
            "list_financings",
            f"/designs/{_segment(design_id)}/financings",
            params=self._page_params(page, per_page),
        )
        return self._many(data, "financings", Financing, "list_financings")

    async def retrieve_financing(self, creds: AuroraCredentials, design_id: str, financing_id: str) -> Financing:
        data = await self._call(
            creds,
            "GET",
            "retrieve_financing",
            f"/designs/{_segment(design_id)}/financings/{_segment(financing_id)}",
        )
        return self._one(data, "financing", Financing, "retrieve_financing")

    # --- agreements ---------------------------------------------------------------------------------

    async def retrieve_agreement(self, creds: AuroraCredentials, agreement_id: str) -> Agreement:
        data = await self._call(creds, "GET", "retrieve_agreement", f"/agreements/{_segment(agreement_id)}")
        return self._one(data, "agreement", Agreement, "retrieve_agreement")

    async def run_agreement_download_url(self, creds: AuroraCredentials, agreement_id: str) -> AgreementDownloadJob:
        """Start the job that produces a signed document URL (422 unless the agreement is signed)."""
        data = await self._call(
            creds,
            "POST",
            "run_agreement_download_url",
            f"/agreements/{_segment(agreement_id)}/download_url/run",
        )
        return self._one(data, "agreement_download_url_job", AgreementDownloadJob, "run_agreement_download_url")

    async def agreement_download_url_status(
        self, creds: AuroraCredentials, agreement_id: str, job_id: str
    ) -> AgreementDownloadJob:
        data = await self._call(
            creds,
            "GET",
            "agreement_download_url_status",
            f"/agreements/{_segment(agreement_id)}/download_url/status",
            params={"job_id": job_id},
        )
        return self._one(data, "agreement_download_url_job", AgreementDownloadJob, "agreement_download_url_status")

    async def signed_agreement_file_url(
        self,
        creds: AuroraCredentials,
        agreement_id: str,
        *,
        max_wait: float | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
    ) -> str:
        """Run the download job and poll it until it yields a `file_url`.

        The URL expires 15 minutes after it is produced, so download it right away. Raises
        `AgreementDownloadFailed` if Aurora reports failure, `TransientAuroraError` if it takes too long.
        """
        s = self.settings
        return await self._job_file_url(
            "signed_agreement_file_url",
            run=lambda: self.run_agreement_download_url(creds, agreement_id),
            status=lambda job_id: self.agreement_download_url_status(creds, agreement_id, job_id),
            failure=AgreementDownloadFailed,
            secrets=self._secrets(creds),
            max_wait=s.agreement_job_max_wait if max_wait is None else max_wait,
            initial_delay=s.agreement_job_initial_delay if initial_delay is None else initial_delay,
            max_delay=s.agreement_job_max_delay if max_delay is None else max_delay,
        )

    async def _job_file_url(
        self,
        endpoint: str,
        *,
        run: Callable[[], Awaitable[AgreementDownloadJob]],
        status: Callable[[str], Awaitable[AgreementDownloadJob]],
        failure: type[FileJobFailed],
        secrets: Sequence[str],
        max_wait: float,
        initial_delay: float,
        max_delay: float,
    ) -> str:
        """Aurora's run/status job pattern: start the job, poll with backoff until it has a `file_url`."""
        deadline = time.monotonic() + max_wait
        delay = initial_delay
        job = await run()
        while True:
            if job.succeeded and job.file_url:
                return job.file_url
            if job.failed:
                raise failure(redact(str(job.error or "job failed"), secrets), endpoint=endpoint)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientAuroraError(
                    f"job {job.job_id} still {job.status!r} after {max_wait:.0f}s", endpoint=endpoint
                )
            await self._sleep(min(delay, remaining))
            delay = min(max(delay * 2, 0.05), max_delay)
            job = await status(job.job_id)

    # --- proposals ----------------------------------------------------------------------------------

    async def retrieve_default_proposal(self, creds: AuroraCredentials, design_id: str) -> Proposal:
        data = await self._call(
            creds,
            "GET",
            "retrieve_default_proposal",
            f"/designs/{_segment(design_id)}/proposals/default",
        )
        return self._one(data, "proposal", Proposal, "retrieve_default_proposal")

    async def retrieve_web_proposal(self, creds: AuroraCredentials, design_id: str) -> WebProposal:
        data = await self._call(creds, "GET", "retrieve_web_proposal", f"/designs/{_segment(design_id)}/web_proposal")
        return self._one(data, "web_proposal", WebProposal, "retrieve_web_proposal")

    async def proposal_pdf_file_url(
        self, creds: AuroraCredentials, design_id: str, *, max_wait: float | None = None
    ) -> str:
        """Run Aurora's *Run Proposal PDF Generation* job for the design and poll it until it yields a `file_url`.

        MODELED: Aurora documents the endpoint by name and its `proposal_pdf_generation_job_completed` event,
        not its path or shape. This follows its run/status job pattern (like the agreement download):
        `POST /designs/{id}/proposal_pdf_generation/run` → 202 `{"proposal_pdf_generation_job": {job_id,
        status, file_url, error, …}}`, then `GET …/proposal_pdf_generation/status?job_id=` — the choice fixed in
        services/aurora_sim/README.md. Change both if Aurora publishes the real path.

        Raises `FileJobFailed` if Aurora reports failure, `TransientAuroraError` after `max_wait` (default
        `proposal_pdf_job_max_wait`, short: the PDF is a nice-to-have next to the web proposal link).
        """
        s = self.settings
        path = f"/designs/{_segment(design_id)}/proposal_pdf_generation"
        key = "proposal_pdf_generation_job"

        async def run() -> ProposalPdfJob:
            data = await self._call(creds, "POST", "run_proposal_pdf_generation", f"{path}/run")
            return self._one(data, key, ProposalPdfJob, "run_proposal_pdf_generation")

        async def status(job_id: str) -> ProposalPdfJob:
            data = await self._call(
                creds, "GET", "proposal_pdf_generation_status", f"{path}/status", params={"job_id": job_id}
            )
            return self._one(data, key, ProposalPdfJob, "proposal_pdf_generation_status")

        return await self._job_file_url(
            "proposal_pdf_file_url",
            run=run,
            status=status,
            failure=FileJobFailed,
            secrets=self._secrets(creds),
            max_wait=s.proposal_pdf_job_max_wait if max_wait is None else max_wait,
            initial_delay=s.agreement_job_initial_delay,
            max_delay=s.agreement_job_max_delay,
        )

    # --- assets -------------------------------------------------------------------------------------

    async def list_design_assets(
        self,
        creds: AuroraCredentials,
        design_id: str,
        page: int | None = None,
        per_page: int | None = None,
    ) -> list[Asset]:
        data = await self._call(
            creds,
            "GET",
            "list_design_assets",
            f"/designs/{_segment(design_id)}/assets",
            params=self._page_params(page, per_page),
        )
        return self._many(data, "assets", Asset, "list_design_assets")

    async def list_project_assets(
        self,
        creds: AuroraCredentials,
        project_id: str,
        page: int | None = None,
        per_page: int | None = None,
    ) -> list[Asset]:
        data = await self._call(
            creds,
            "GET",
            "list_project_assets",
            f"/projects/{_segment(project_id)}/assets",
            params=self._page_params(page, per_page),
        )
        return self._many(data, "assets", Asset, "list_project_assets")

    async def retrieve_asset(self, creds: AuroraCredentials, asset_id: str) -> Asset:
        data = await self._call(creds, "GET", "retrieve_asset", f"/assets/{_segment(asset_id)}")
        return self._one(data, "asset", Asset, "retrieve_asset")

    # --- users --------------------------------------------------------------------------------------

    async def list_users(
        self, creds: AuroraCredentials, page: int | None = None, per_page: int | None = None
    ) -> list[User]:
        data = await self._call(creds, "GET", "list_users", "/users", params=self._page_params(page, per_page))
        return self._many(data, "users", User, "list_users")

    async def retrieve_user(self, creds: AuroraCredentials, user_id: str) -> User:
        data = await self._call(creds, "GET", "retrieve_user", f"/users/{_segment(user_id)}")
        return self._one(data, "user", User, "retrieve_user")

    # --- consumption profile ------------------------------------------------------------------------

    async def retrieve_consumption_profile(
        self, creds: AuroraCredentials, project_id: str
    ) -> ConsumptionProfile | None:
        """None when the profile is not filled out (Aurora answers 404 for that)."""
        try:
            data = await self._call(
                creds,
                "GET",
                "retrieve_consumption_profile",
                f"/projects/{_segment(project_id)}/consumption_profile",
            )
        except NotFound as exc:
            if "not filled out" in exc.message.lower():
                return None
            raise
        return self._one(data, "consumption_profile", ConsumptionProfile, "retrieve_consumption_profile")

    # --- webhooks -----------------------------------------------------------------------------------

    async def list_webhooks(
        self, creds: AuroraCredentials, page: int | None = None, per_page: int | None = None
    ) -> list[Webhook]:
        data = await self._call(creds, "GET", "list_webhooks", "/webhooks", params=self._page_params(page, per_page))
        return self._many(data, "webhooks", Webhook, "list_webhooks")

    async def retrieve_webhook(self, creds: AuroraCredentials, webhook_id: str) -> Webhook:
        data = await self._call(creds, "GET", "retrieve_webhook", f"/webhooks/{_segment(webhook_id)}")
        return self._one(data, "webhook", Webhook, "retrieve_webhook")

    async def create_webhook(self, creds: AuroraCredentials, webhook: NewWebhook) -> Webhook:
        data = await self._call(
            creds,
            "POST",
            "create_webhook",
            "/webhooks",
            json={"webhook": webhook.model_dump(mode="json", exclude_none=True)},
            # A duplicate subscription means duplicate deliveries and eats into the 5-per-event quota.
            idempotent=False,
        )
        return self._one(data, "webhook", Webhook, "create_webhook")

    async def update_webhook(self, creds: AuroraCredentials, webhook_id: str, changes: WebhookUpdate) -> Webhook:
        data = await self._call(
            creds,
            "PUT",
            "update_webhook",
            f"/webhooks/{_segment(webhook_id)}",
            json={"webhook": changes.model_dump(mode="json", exclude_unset=True)},
        )
        return self._one(data, "webhook", Webhook, "update_webhook")

    async def delete_webhook(self, creds: AuroraCredentials, webhook_id: str) -> None:
        await self._call(creds, "DELETE", "delete_webhook", f"/webhooks/{_segment(webhook_id)}")

    # --- files --------------------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        max_bytes: int | None = None,
        # A whole-file deadline is part of the contract the stages rely on, hence a parameter.
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> DownloadedFile:
        """Fetch an asset or signed-agreement file from its pre-signed URL.

        No Authorization header is sent: the URL is its own credential, and it may point at third-party
        storage that must never see the API key. `max_bytes` is enforced while streaming.
        """
        limit = self.settings.download_max_bytes if max_bytes is None else max_bytes
        overall = self.settings.download_timeout if timeout is None else timeout
        endpoint = "download"
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(overall):
                    result = await self._download_once(url, limit, overall)
            except AuroraError as exc:
                self._record(endpoint, exc.status, attempt, started, 0.0, None)
                if not exc.retryable or self._last_try(attempt):
                    raise
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            except (TimeoutError, httpx.TransportError) as exc:
                self._record(endpoint, None, attempt, started, 0.0, type(exc).__name__)
                if self._last_try(attempt):
                    raise TransientAuroraError(
                        f"{type(exc).__name__} downloading {_redacted_url(url)}", endpoint=endpoint
                    ) from None
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            self._record(endpoint, 200, attempt, started, 0.0, None)
            return result

    def check_file_url(self, url: str) -> None:
        """SSRF guard: a file URL came from Aurora's response, but is fetched only over https, on port 443, from
        the hosts `download_allowed_hosts` names (Aurora's and its storage's), or, locally, from exactly the
        scheme, host and port of the emulator that the base_url override names (not any port on that host:
        the admin API may listen there too)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = _port_of(parts)
        override = urlsplit(self.settings.base_url) if self.settings.base_url else None
        if (
            override is not None
            and host
            and (parts.scheme, host, port) == (override.scheme, (override.hostname or "").lower(), _port_of(override))
        ):
            return
        patterns = self.settings.allowed_file_host_patterns()
        if (
            parts.scheme != "https"
            or not host
            or port != 443
            or not any(fnmatch.fnmatchcase(host, p) for p in patterns)
        ):
            raise DownloadRefused(
                f"refused to download {_redacted_url(url)}: not an allowed https file host "
                "(AURORA_DOWNLOAD_ALLOWED_HOSTS)",
                endpoint="download",
            )

    async def _download_once(self, url: str, limit: int, deadline: float) -> DownloadedFile:
        endpoint = "download"
        for _ in range(4):  # the URL and at most three redirects, each one checked like the first
            self.check_file_url(url)
            async with self._http.stream(
                "GET",
                url,
                timeout=httpx.Timeout(deadline, connect=self.settings.connect_timeout),
                follow_redirects=False,
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(response.url.join(response.headers["location"]))
                    continue
                return await self._read_file(response, url, limit)
        raise DownloadRefused(f"too many redirects downloading {_redacted_url(url)}", endpoint=endpoint)

    async def _read_file(self, response: httpx.Response, url: str, limit: int) -> DownloadedFile:
        endpoint = "download"
        if response.status_code >= 400:
            body = await response.aread()
            if response.status_code in FILE_URL_REFUSALS:
                # The URL is its own credential: its refusal never means the company's API token was rejected.
                raise FileUnavailable(
                    f"{_redacted_url(url)} answered {response.status_code}: {error_messages(body)[:200]}",
                    status=response.status_code,
                    endpoint=endpoint,
                )
            raise error_for_status(response.status_code, body, endpoint=endpoint, headers=response.headers)
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(
                f"{_redacted_url(url)} declares {declared} bytes, limit is {limit}",
                status=response.status_code,
                endpoint=endpoint,
            )
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > limit:
                raise ResponseTooLarge(
                    f"{_redacted_url(url)} exceeds the limit of {limit} bytes",
                    status=response.status_code,
                    endpoint=endpoint,
                )
            chunks.append(chunk)
        return DownloadedFile(content=b"".join(chunks), content_type=response.headers.get("content-type"))

    # --- plumbing -----------------------------------------------------------------------------------

    @staticmethod
    def _page_params(page: int | None, per_page: int | None) -> dict[str, int]:
        params: dict[str, int] = {}
        if page is not None:
            if page < 1:
                raise ValueError("page is 1-based")
            params["page"] = page
        if per_page is not None:
            if not 1 <= per_page <= MAX_PER_PAGE:
                raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
            params["per_page"] = per_page
        return params

    def _url(self, creds: AuroraCredentials, path: str) -> str:
        root = base_url_for(creds.token, self.settings.base_url)
        return f"{root}/tenants/{_segment(creds.tenant_id)}{path}"

    @staticmethod
    def _secrets(creds: AuroraCredentials) -> Sequence[str]:
        return (creds.token.get_secret_value(),)

    def _headers(self, creds: AuroraCredentials, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {creds.token.get_secret_value()}",
            "Aurora-API-Version": self.settings.api_version,
            "Accept": "application/json",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    # `attempt` counts retries from 0 here (it labels AuroraCall records); the shared policy counts tries.
    def _backoff(self, attempt: int) -> float:
        return self.settings.retry_policy().delay(attempt + 1, self._jitter)

    def _last_try(self, attempt: int) -> bool:
        return self.settings.retry_policy().exhausted(attempt + 1)

    def _record(
        self,
        endpoint: str,
        status: int | None,
        attempt: int,
        started: float,
        waited: float,
        error: str | None,
    ) -> None:
        if self._on_call is None:
            return
        call = AuroraCall(
            endpoint=endpoint,
            status=status,
            attempt=attempt,
            duration_seconds=time.monotonic() - started,
            rate_limit_wait_seconds=waited,
            error=error,
        )
        try:
            self._on_call(call)
        except Exception:
            # Metrics must never fail an API call.
            logger.exception("aurora call hook failed for %s", endpoint)

    async def _call(
        self,
        creds: AuroraCredentials,
        method: str,
        endpoint: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one logical call with rate limiting and bounded retries; return the decoded JSON (or None)."""
        url = self._url(creds, path)
        secrets = self._secrets(creds)
        key = creds.key_fingerprint
        content = orjson.dumps(json) if json is not None else None
        headers = self._headers(creds, content is not None)
        attempt = 0
        while True:
            error: AuroraError
            sent = True
            async with self.limiter.slot(key) as slot:
                started = time.monotonic()
                try:
                    response = await self._http.request(method, url, params=params, content=content, headers=headers)
                except httpx.TransportError as exc:
                    # Connect failures provably never reached Aurora, so even a create can be retried.
                    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                    self._record(endpoint, None, attempt, started, slot.waited, type(exc).__name__)
                    error = TransientAuroraError(redact(f"{type(exc).__name__}: {exc}", secrets), endpoint=endpoint)
                else:
                    self._record(endpoint, response.status_code, attempt, started, slot.waited, None)
                    if response.is_success:
                        return self._decode(response, endpoint, secrets)
                    error = error_for_status(
                        response.status_code,
                        response.content,
                        endpoint=endpoint,
                        headers=response.headers,
                        secrets=secrets,
                    )

            if isinstance(error, RateLimited):
                pause = error.retry_after if error.retry_after is not None else self._backoff(attempt)
                self.limiter.pause(key, pause)
                retry = error.retry_after is None or error.retry_after <= self.settings.max_retry_after
                delay = 0.0  # the limiter pause already holds this call and every other one on the key
            elif isinstance(error, TransientAuroraError):
                retry = idempotent or not sent
                delay = self._backoff(attempt)
            else:
                raise error

            if not retry or self._last_try(attempt):
                raise error
            logger.warning(
                "aurora %s failed (%s), retry %d/%d in %.2fs",
                endpoint,
                error.status if error.status is not None else "no response",
                attempt + 1,
                self.settings.max_retries,
                delay if not isinstance(error, RateLimited) else self.limiter.paused_for(key),
                extra={"aurora_endpoint": endpoint, "aurora_key": key, "aurora_status": error.status},
            )
            if delay > 0:
                await self._sleep(delay)
            attempt += 1

    @staticmethod
    def _decode(response: httpx.Response, endpoint: str, secrets: Sequence[str]) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UnexpectedResponse(
                redact(f"response is not JSON: {response.content[:120]!r}", secrets),
                status=response.status_code,
                endpoint=endpoint,
            ) from None

    @staticmethod
    def _envelope(data: Any, key: str, endpoint: str) -> Any:
        if not isinstance(data, dict) or key not in data:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise UnexpectedResponse(f"expected a {key!r} envelope, got {keys}", endpoint=endpoint)
        return data[key]

    def _one(self, data: Any, key: str, model: type[M], endpoint: str) -> M:
        try:
            return model.model_validate(self._envelope(data, key, endpoint))
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"{key}: {exc.error_count()} invalid field(s): {_validation_summary(exc)}", endpoint=endpoint
            ) from None

    def _many(self, data: Any, key: str, model: type[M], endpoint: str) -> list[M]:
        # `null` for a list reads as empty, as inside the models (NullAsEmpty).
        items = self._envelope(data, key, endpoint) or []
        if not isinstance(items, list):
            raise UnexpectedResponse(f"{key!r} is not a list", endpoint=endpoint)
        try:
            return [model.model_validate(item) for item in items]
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"{key}: {exc.error_count()} invalid field(s): {_validation_summary(exc)}", endpoint=endpoint
            ) from None


def _validation_summary(exc: ValidationError) -> str:
    # Field locations and messages only: input values could be customer data.
    return "; ".join(f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()[:5])
