from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ImporterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMPORTER_", extra="ignore")

    port: int = 8094
    # How stale a company's strategy, workflow and custom mappings may be: admin changes show within this.
    settings_ttl_seconds: float = 2.0
    # Partitions consumed concurrently (one consumer each, so order within a partition — one Aurora project —
    # and commit-after-write still hold). An import spends most of its time waiting on Postgres, so several
    # in flight keep the database busy; beyond the topic's partition count extra workers idle.
    workers: int = 6
