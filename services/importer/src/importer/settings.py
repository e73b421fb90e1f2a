from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ImporterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMPORTER_", extra="ignore")

    port: int = 8094
    # How stale a company's strategy, workflow and custom mappings may be: admin changes show within this.
    settings_ttl_seconds: float = 2.0
