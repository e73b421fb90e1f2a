"""Settings of the admin service: its own knobs plus one settings object per dependency."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline_common.aurora.settings import AuroraSettings
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings, ServiceSettings


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    port: int = Field(default=8081, validation_alias="ADMIN_PORT")
    # No default: without it nobody can create companies, which is the safe failure.
    operator_token: SecretStr | None = Field(default=None, validation_alias="OPERATOR_TOKEN")
    public_webhook_base_url: str = Field(
        default="http://127.0.0.1:8080",
        validation_alias="PUBLIC_WEBHOOK_BASE_URL",
        description="The gateway's public address, written into the url_template registered in Aurora.",
    )
    # Absolute lifetime of a settings-page sign-in: a forgotten browser tab does not stay signed in for days.
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30, validation_alias="ADMIN_SESSION_HOURS")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    aurora: AuroraSettings = Field(default_factory=AuroraSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
