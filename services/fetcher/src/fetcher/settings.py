from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class FetcherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FETCHER_", extra="ignore")

    port: int = 8093
    max_document_bytes: int = 25 * 1024 * 1024
