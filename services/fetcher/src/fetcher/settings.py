from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline_common.retry import RetryPolicy


class FetcherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FETCHER_", extra="ignore")

    port: int = 8093
    max_document_bytes: int = 25 * 1024 * 1024

    max_concurrent_integrations: int = Field(
        default=64, ge=1, description="Companies fetched at the same time by one process (one job each)."
    )
    consumer_workers: int = Field(
        default=64,
        ge=1,
        description="Kafka messages handled at once; their queue inserts are written in one transaction per batch.",
    )
    backfill_page_size: int = Field(default=100, ge=1, le=250, description="Projects per page of a backfill walk.")
    lease_ttl_seconds: float = Field(
        default=15.0, gt=0, description="How long a dead copy's companies wait before another copy takes them."
    )
    lease_linger_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A company's lease is kept this long after its last job (one rate-limit window), so its "
        "recent calls stay counted by the same limiter.",
    )
    poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="Safety net behind LISTEN/NOTIFY: due retries, expired leases."
    )
    max_attempts: int = Field(default=8, ge=1, description="Tries of a job before it is dead-lettered.")
    retry_base_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=300.0, ge=0)

    def retry_policy(self) -> RetryPolicy:
        """Of a fetch-queue job (an import or a backfill step)."""
        return RetryPolicy(
            max_attempts=self.max_attempts, base_delay=self.retry_base_delay, max_delay=self.retry_max_delay
        )

    done_retention_hours: float = Field(
        default=168.0, gt=0, description="Finished jobs are kept this long: the window of event-id idempotency."
    )
    shutdown_grace_seconds: float = Field(default=15.0, ge=0)
