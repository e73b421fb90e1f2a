"""Tuning of the Aurora client, read from `AURORA_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuroraSettings(BaseSettings):
    # `extra="ignore"`: other components (the emulator's AURORA_SIM_*) share the prefix.
    model_config = SettingsConfigDict(env_prefix="AURORA_", extra="ignore")

    base_url: str | None = Field(
        default=None,
        description="Overrides the host derived from the token; how local runs and tests reach the emulator.",
    )
    download_allowed_hosts: str = Field(
        default="*.aurorasolar.com,*.amazonaws.com,*.cloudfront.net",
        description="Comma-separated host patterns file URLs may point at (Aurora's and its storage's). Only "
        "https is fetched, except from the base_url override's own host (the emulator).",
    )
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

    api_version: str = "2024.05"
    user_agent: str = "aurora-crm-pipeline/0.1"

    download_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    download_timeout: float = Field(default=120.0, gt=0)

    agreement_job_max_wait: float = Field(default=60.0, gt=0)
    # The signed document is on the latency path of every signed import: the first status read comes soon
    # (a job that is already done costs no extra call), later ones back off to agreement_job_max_delay.
    agreement_job_initial_delay: float = Field(default=0.05, ge=0)
    agreement_job_max_delay: float = Field(default=5.0, ge=0)

    @property
    def admin_budget_per_minute(self) -> int:
        """What the admin's limiter allows per key: its share, never more than the key's whole budget."""
        return min(self.admin_requests_per_minute, self.requests_per_minute)

    @property
    def fetcher_budget_per_minute(self) -> int:
        """The key's budget minus the admin's share: the fetcher does every bulk use of a key (imports and
        backfill walks); the admin's interactive calls fit in what is left."""
        return max(1, self.requests_per_minute - self.admin_requests_per_minute)
