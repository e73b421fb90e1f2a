"""The Aurora token never leaves: not in responses, not in logs; and the key that encrypts it rotates."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from admin.cli import app as cli
from pipeline_common.secrets import TokenCipher, TokenCipherError
from pipeline_common.settings import CryptoSettings
from tests.admin.conftest import AURORA_KEYS, SEEN_RESPONSES, AdminApi
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
URL = "/v1/integrations/aurora"


async def test_token_absent_from_responses_and_logs(
    admin: AdminApi,
    aurora_sim: AuroraSim,
    tenant: SimTenant,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    company = await admin.company()
    texts: list[str] = []
    bad = await company.post(URL, {"tenant_id": tenant.tenant_id, "bearer_token": tenant.api_key + "x"})
    texts.append(bad.text)
    r = await company.connect(tenant)
    assert r.status_code == 201
    for method, path, body in [
        ("GET", URL, None),
        ("GET", f"{URL}/triggers", None),
        ("PUT", f"{URL}/triggers", {"triggers": [{"kind": "project_status_changed", "statuses": ["Sold"]}]}),
        ("PUT", f"{URL}/token", {"bearer_token": tenant.api_key}),
        ("GET", f"{URL}/log", None),
        ("DELETE", URL, None),
        ("GET", URL, None),
    ]:
        response = await company.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)
        texts.append(response.text + str(response.headers))
    out, err = capfd.readouterr()
    for text in (*texts, out, err, caplog.text):
        assert tenant.api_key not in text
        assert tenant.api_key[8:] not in text


def test_no_response_of_the_session_contained_an_aurora_key() -> None:
    # Runs after the other admin tests of the session (file order); covers every response they received.
    assert SEEN_RESPONSES
    for key in AURORA_KEYS:
        for text in SEEN_RESPONSES:
            assert key not in text


def test_rotate_keys_reencrypts_every_token(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old_key = CryptoSettings().token_encryption_keys.get_secret_value()
    new_key = "rotation-test-key-" + uuid.uuid4().hex

    async def ciphertexts() -> list[bytes]:
        conn = await asyncpg.connect(database_url)
        try:
            return [bytes(r[0]) for r in await conn.fetch("SELECT token_ciphertext FROM integrations")]
        finally:
            await conn.close()

    before = asyncio.run(ciphertexts())
    assert before, "earlier tests connected integrations"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    result = CliRunner().invoke(cli, ["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert f"re-encrypted {len(before)} token(s)" in result.output

    after = asyncio.run(ciphertexts())
    only_new, only_old = TokenCipher([new_key]), TokenCipher([old_key])
    for ciphertext in after:
        only_new.decrypt(ciphertext)
        with pytest.raises(TokenCipherError):
            only_old.decrypt(ciphertext)
    assert {TokenCipher([old_key]).decrypt(c).get_secret_value() for c in before} == {
        only_new.decrypt(c).get_secret_value() for c in after
    }

    # Back to the session's key, so the running admin app can still read every token.
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", f"{old_key},{new_key}")
    assert CliRunner().invoke(cli, ["rotate-keys"]).exit_code == 0
    for ciphertext in asyncio.run(ciphertexts()):
        TokenCipher([old_key]).decrypt(ciphertext)


def test_cli_creates_a_company_and_prints_its_key_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["create-company", "CLI Solar"])
    assert result.exit_code == 0, result.output
    key = next(line.split(": ", 1)[1].strip() for line in result.output.splitlines() if line.startswith("API key"))

    async def company_for(k: str) -> Any:
        from admin.security import hash_api_key

        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval(
                "SELECT c.name FROM company_api_keys k JOIN companies c ON c.id = k.company_id WHERE key_hash = $1",
                hash_api_key(k),
            )
        finally:
            await conn.close()

    assert asyncio.run(company_for(key)) == "CLI Solar"
