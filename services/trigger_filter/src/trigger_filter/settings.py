from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class TriggerFilterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIGGER_FILTER_", extra="ignore")

    port: int = 8092
