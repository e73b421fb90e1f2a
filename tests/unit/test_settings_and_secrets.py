from __future__ import annotations

import pytest
from pydantic import SecretStr

from pipeline_common import webhooks
from pipeline_common.secrets import TokenCipher, TokenCipherError, WebhookSigner
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings


def test_settings_read_documented_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    assert KafkaSettings().bootstrap_servers == "k1:9092,k2:9092"
    database = DatabaseSettings()
    assert database.database_url.get_secret_value() == "postgresql://u:p@db:5432/x"
    assert "p@db" not in repr(database)


def test_token_cipher_rotates_keys() -> None:
    old = TokenCipher(["old-key"])
    ciphertext = old.encrypt(SecretStr("sk_sand_secret"))
    assert b"sk_sand_secret" not in ciphertext
    rotated = TokenCipher(["new-key", "old-key"])
    assert rotated.decrypt(ciphertext).get_secret_value() == "sk_sand_secret"
    re_encrypted = rotated.rotate(ciphertext)
    assert TokenCipher(["new-key"]).decrypt(re_encrypted).get_secret_value() == "sk_sand_secret"
    with pytest.raises(TokenCipherError):
        TokenCipher(["new-key"]).decrypt(ciphertext)


def test_crypto_settings_accept_several_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", "a, b")
    cipher = TokenCipher.from_settings(CryptoSettings())
    assert TokenCipher(["b"]).decrypt(TokenCipher(["b"]).encrypt(SecretStr("x"))).get_secret_value() == "x"
    assert cipher.decrypt(TokenCipher(["b"]).encrypt(SecretStr("y"))).get_secret_value() == "y"


def test_webhook_secrets_are_per_integration_and_generation() -> None:
    signer = WebhookSigner(["k"])
    secret = signer.secret_for("integration-a", 1)
    assert signer.verify("integration-a", 1, secret)
    assert not signer.verify("integration-b", 1, secret)
    assert not signer.verify("integration-a", 2, secret)
    # A new signing key keeps secrets made with the old one valid during rotation.
    assert WebhookSigner(["k2", "k"]).verify("integration-a", 1, secret)


def test_secret_header_round_trip_and_malformed_values() -> None:
    value = webhooks.secret_header_value(3, "abc")
    assert webhooks.parse_secret_header(value) == (3, "abc")
    for bad in ("", "abc", "v.abc", "x3.abc", "v3.", "v123456789.abc"):
        assert webhooks.parse_secret_header(bad) is None


def test_url_template_asks_for_every_agreement_placeholder() -> None:
    url = webhooks.url_template("https://crm.example/", "iid", "agreement_status_changed")
    assert url.startswith("https://crm.example/webhooks/aurora/iid?event=agreement_status_changed&")
    for placeholder in ("<PROJECT_ID>", "<AGREEMENT_ID>", "<STATUS>", "<DESIGN_ID>", "<FINANCING_ID>"):
        assert placeholder in url


def test_several_bootstrap_servers_reach_the_clients_as_separate_brokers(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from aiokafka.errors import KafkaConnectionError

    from pipeline_common.broker import make_broker

    # Two loopback ports nobody listens on: the connection error names every broker the client tried.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", " 127.0.0.1:1, 127.0.0.1:2 ")
    settings = KafkaSettings()
    assert settings.bootstrap_hosts == ["127.0.0.1:1", "127.0.0.1:2"]
    broker = make_broker(settings, client_id="unit")

    async def connect() -> str:
        try:
            await broker.connect()
        except KafkaConnectionError as exc:
            return str(exc)
        finally:
            await broker.stop()
        raise AssertionError("connected to a port nobody listens on")

    tried = asyncio.run(connect())
    assert "('127.0.0.1', 1," in tried, tried
    assert "('127.0.0.1', 2," in tried, tried


@pytest.mark.parametrize("value", ["", "k1:9092,,k2:9092", "k1:9092, "])
def test_a_malformed_bootstrap_list_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", value)
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP_SERVERS must be host:port"):
        KafkaSettings()


def test_replicas_are_read_per_service_and_a_typo_is_refused_by_name() -> None:
    from pipeline_devtools.devstack import parse_replicas

    assert parse_replicas("fetcher=2, importer=3,") == {"fetcher": 2, "importer": 3}
    assert parse_replicas("") == {}
    with pytest.raises(ValueError, match="unknown service 'fetchr'"):
        parse_replicas("fetchr=2")
    with pytest.raises(ValueError, match="needs a count of 1 or more"):
        parse_replicas("importer=0")
    with pytest.raises(ValueError, match="aurora_sim runs as one copy"):
        parse_replicas("aurora_sim=2")
