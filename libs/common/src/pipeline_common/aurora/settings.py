"""Tuning of the Aurora client, read from `AURORA_*` environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline_common.retry import RetryPolicy

AURORA_DOMAIN_SUFFIX = ".aurorasolar.com"


def _patterns(value: str) -> list[str]:
    return [p.strip().lower() for p in value.split(",") if p.strip()]


class AuroraSettings(BaseSettings):
    # `extra="ignore"`: other components (the emulator's AURORA_SIM_*) share the prefix.
    model_config = SettingsConfigDict(env_prefix="AURORA_", extra="ignore")

    base_url: str | None = Field(
        default=None,
        description="Overrides the host derived from the token; how local runs and tests reach the emulator.",
    )
    download_allowed_hosts: str = Field(
        default="*.aurorasolar.com",
        description="Comma-separated hosts that file URLs (assets, signed agreements, proposal PDFs) may point "
        "at: Aurora's own (`*.aurorasolar.com`) plus Aurora's storage, named exactly (e.g. "
        "`<aurora's bucket>.s3.us-west-2.amazonaws.com`). Aurora does not publish its storage hosts: add the ones "
        "its file URLs use (a refused download is named in the integration log). Wildcards are accepted only "
        "below aurorasolar.com: `*.amazonaws.com` would include anyone's bucket or EC2 instance. Only https on "
        "port 443 is fetched, except from exactly the base_url override's scheme, host and port (the emulator).",
    )

    @field_validator("download_allowed_hosts")
    @classmethod
    def _hosts_are_narrow(cls, value: str) -> str:
        for pattern in _patterns(value):
            if any(c in pattern for c in "*?[") and not pattern.endswith(AURORA_DOMAIN_SUFFIX):
                raise ValueError(
                    f"{pattern!r}: name storage hosts exactly; wildcards are allowed only below aurorasolar.com"
                )
        return value

    def allowed_file_host_patterns(self) -> list[str]:
        return _patterns(self.download_allowed_hosts)

    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    write_timeout: float = Field(default=30.0, gt=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=50, ge=1)
    max_keepalive_connections: int = Field(default=20, ge=0)
    keepalive_expiry: float = Field(default=30.0, ge=0)

    requests_per_minute: int = Field(default=90, ge=1, description="Aurora's documented per-key budget.")
    admin_requests_per_minute: int = Field(
        # 15: connecting and then changing a trigger takes ~7 admin calls within a minute; a smaller share
        # made those screens wait for the key's budget.
        default=15,
        ge=1,
        description="The admin's share of each key's requests_per_minute for its interactive calls (connect "
        "verification, webhook registration, re-sync checks). The fetcher's limiter allows the rest (75/min), "
        "so the two together never provoke a 429. One setting read by both services.",
    )
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)

    max_retries: int = Field(default=4, ge=0, description="Retries after the first attempt.")
    retry_base_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=30.0, ge=0)
    # A Retry-After longer than this is not waited out inside a call: the caller gets RateLimited and can
    # reschedule the work instead of holding a consumer for minutes.
    max_retry_after: float = Field(default=120.0, ge=0)

    def retry_policy(self) -> RetryPolicy:
        """Of one call's HTTP attempts: the first try plus `max_retries`."""
        return RetryPolicy(
            max_attempts=self.max_retries + 1, base_delay=self.retry_base_delay, max_delay=self.retry_max_delay
        )

    api_version: str = "2024.05"
    user_agent: str = "aurora-crm-pipeline/0.1"

    download_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    download_timeout: float = Field(default=120.0, gt=0)

    agreement_job_max_wait: float = Field(default=60.0, gt=0)
    # The signed document is on the latency path of every signed import: the first status read comes soon
    # (a job that is already done costs no extra call), later ones back off to agreement_job_max_delay.
    agreement_job_initial_delay: float = Field(default=0.05, ge=0)
    agreement_job_max_delay: float = Field(default=5.0, ge=0)
    # The proposal PDF is optional next to the web proposal link: a slow job is given up on sooner, and the
    # import goes on without it (a later re-sync attaches it).
    proposal_pdf_job_max_wait: float = Field(default=20.0, gt=0)

    @property
    def admin_budget_per_minute(self) -> int:
        """What the admin's limiter allows per key: its share, never more than the key's whole budget."""
        return min(self.admin_requests_per_minute, self.requests_per_minute)

    @property
    def fetcher_budget_per_minute(self) -> int:
        """The key's budget minus the admin's share: the fetcher does every bulk use of a key (imports and
        backfill walks); the admin's interactive calls fit in what is left."""
        return max(1, self.requests_per_minute - self.admin_requests_per_minute)
