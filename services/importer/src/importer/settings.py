from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ImporterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMPORTER_", extra="ignore")

    port: int = 8094
