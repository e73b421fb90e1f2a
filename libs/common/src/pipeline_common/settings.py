"""Settings shared by the services: one class per dependency, read from the environment.

Names are the ones the README documents (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`, …) and the ones
docker-compose.yml sets, so a process behaves the same under `make run` and under Compose.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    # "host:port[,host:port…]": a cluster is given as several brokers so that losing the first one listed
    # does not stop a process from starting. Pass `bootstrap_hosts` to clients, not this string: FastStream
    # takes a str as a single host.
    bootstrap_servers: str = "127.0.0.1:9092"
    # Small linger batches bursts without adding visible latency at light load.
    linger_ms: int = 2
    request_timeout_ms: int = 30_000
    # What `pipeline-topics` creates (and grows to): the most copies of a stage that can share the work.
    topic_partitions: int = Field(default=6, ge=1)
    # 1 on the single local broker; 3 and 2 on a cluster, so one broker can be lost without losing an
    # acknowledged write (producers use acks=all).
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)
    topic_retention_hours: float = Field(default=168.0, gt=0)
    # Dead letters wait for a person: keep them longer than the events they came from.
    dlq_retention_hours: float = Field(default=720.0, gt=0)
    # Consumer groups are "<group_prefix>.<stage>": two pipelines sharing a broker (tests, staging) must not
    # share groups, or one would consume the other's messages.
    group_prefix: str = "pipeline"

    @field_validator("bootstrap_servers")
    @classmethod
    def _normalise_bootstrap(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",")]
        if not value.strip() or any(not h for h in hosts):
            raise ValueError(f"KAFKA_BOOTSTRAP_SERVERS must be host:port[,host:port…], got {value!r}")
        return ",".join(hosts)

    @property
    def bootstrap_hosts(self) -> list[str]:
        """Each broker of `bootstrap_servers` on its own: the form every Kafka client here is given."""
        return self.bootstrap_servers.split(",")


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://pipeline:pipeline@127.0.0.1:5432/pipeline"),
        validation_alias="DATABASE_URL",
    )
    db_pool_min_size: int = Field(default=1, validation_alias="DB_POOL_MIN_SIZE")
    db_pool_max_size: int = Field(default=10, validation_alias="DB_POOL_MAX_SIZE")


class CryptoSettings(BaseSettings):
    """Keys for secrets at rest.

    `TOKEN_ENCRYPTION_KEYS` is a comma-separated list of Fernet keys, newest first: the first encrypts,
    all decrypt, so a key is rotated by prepending a new one and re-encrypting (`aurora-admin-cli rotate-keys`).
    `WEBHOOK_SIGNING_KEYS` works the same way for the per-integration webhook secrets.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    token_encryption_keys: SecretStr = Field(
        # A fixed development key so `make run` works out of the box; production must set its own.
        default=SecretStr("ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="),
        validation_alias="TOKEN_ENCRYPTION_KEYS",
    )
    webhook_signing_keys: SecretStr = Field(
        default=SecretStr("dev-only-webhook-signing-key"),
        validation_alias="WEBHOOK_SIGNING_KEYS",
    )


class ServiceSettings(BaseSettings):
    """Where a service listens and how it logs; each service reads its own port variable."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = Field(default="127.0.0.1", validation_alias="BIND_HOST")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_format: str = Field(default="json", validation_alias="LOG_FORMAT")
