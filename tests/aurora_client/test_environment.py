from __future__ import annotations

import pytest
from pydantic import SecretStr

from pipeline_common.aurora import (
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    AuroraEnvironment,
    AuroraSettings,
    base_url_for,
    environment_for_token,
)


@pytest.mark.parametrize("token", ["sk_sand_abc", "rk_sand_abc", "sand_abc"])
def test_sandbox_tokens(token: str) -> None:
    assert environment_for_token(token) is AuroraEnvironment.SANDBOX
    assert base_url_for(SecretStr(token)) == SANDBOX_BASE_URL


@pytest.mark.parametrize("token", ["sk_prod_abc", "rk_prod_abc", "prod_abc", "0123456789abcdef", "sk_sandbox"])
def test_everything_else_is_production(token: str) -> None:
    assert environment_for_token(token) is AuroraEnvironment.PRODUCTION
    assert base_url_for(token) == PRODUCTION_BASE_URL


def test_explicit_override_wins_and_loses_trailing_slash() -> None:
    assert base_url_for("sk_prod_abc", "http://127.0.0.1:8090/") == "http://127.0.0.1:8090"
    assert base_url_for("sk_sand_abc", "http://127.0.0.1:8090") == "http://127.0.0.1:8090"


def test_settings_read_the_aurora_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURORA_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("AURORA_REQUESTS_PER_MINUTE", "20")
    monkeypatch.setenv("AURORA_SIM_RATE_LIMIT_PER_MINUTE", "5")  # the emulator's own setting is ignored
    settings = AuroraSettings()
    assert settings.base_url == "http://127.0.0.1:9999"
    assert settings.requests_per_minute == 20
    assert settings.api_version == "2024.05"


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURORA_BASE_URL", raising=False)
    monkeypatch.delenv("AURORA_REQUESTS_PER_MINUTE", raising=False)
    settings = AuroraSettings()
    assert settings.base_url is None
    assert settings.requests_per_minute == 90
