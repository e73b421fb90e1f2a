from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = 8080
    # Upper bounds for what a webhook may carry; Aurora's are a handful of ids and a status.
    max_query_bytes: int = 2048
    max_param_chars: int = 256
    # How often the gateway refreshes which webhook-secret generations each integration accepts.
    integration_refresh_seconds: float = 2.0
    workers: int = Field(default=1, description="uvicorn worker processes")
