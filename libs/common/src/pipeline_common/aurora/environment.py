"""Which Aurora host a token belongs to.

Sandbox and production are separate worlds (different IDs, different keys), so the host is derived from the
token rather than configured per company: a company record cannot then point a production key at the sandbox.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import SecretStr

SANDBOX_BASE_URL = "https://api-sandbox.aurorasolar.com"
PRODUCTION_BASE_URL = "https://api.aurorasolar.com"

# Standard (`sk_`) and restricted (`rk_`) keys carry the environment after the kind; a bare `sand_` prefix
# also occurs in the wild. Anything else - including prefix-less keys, which some integrators report for
# production - is treated as production.
_SANDBOX_PREFIXES = ("sk_sand_", "rk_sand_", "sand_")


class AuroraEnvironment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"

    @property
    def base_url(self) -> str:
        return SANDBOX_BASE_URL if self is AuroraEnvironment.SANDBOX else PRODUCTION_BASE_URL


def environment_for_token(token: str | SecretStr) -> AuroraEnvironment:
    raw = token.get_secret_value() if isinstance(token, SecretStr) else token
    if raw.strip().startswith(_SANDBOX_PREFIXES):
        return AuroraEnvironment.SANDBOX
    return AuroraEnvironment.PRODUCTION


def base_url_for(token: str | SecretStr, override: str | None = None) -> str:
    """The API root for `token`; a configured override (the emulator, in every local run) always wins."""
    if override:
        return override.rstrip("/")
    return environment_for_token(token).base_url
