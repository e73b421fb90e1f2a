from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AURORA_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    environment: Literal["sandbox", "production"] = "sandbox"
    rate_limit_per_minute: int = 90
    webhook_time_scale: float = 1.0
    # Aurora's documented 10 s; only lowered by tests that exercise the timeout path.
    webhook_timeout_seconds: float = 10.0
    # None: file URLs are built from the incoming request's base URL, which is right behind loopback.
    public_base_url: str | None = None
    seed: int | None = None
    file_url_ttl_seconds: int = 15 * 60
    # How many status reads a download-URL job answers `in-progress` before it succeeds.
    download_job_pending_reads: int = 1
    request_log_limit: int = 100_000
    delivery_log_limit: int = 50_000
    log_level: str = "warning"

    @property
    def env_segment(self) -> str:
        return "sand" if self.environment == "sandbox" else "prod"
