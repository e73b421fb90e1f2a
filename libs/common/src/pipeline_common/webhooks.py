"""The shape of the webhook URLs the pipeline registers in Aurora, shared by admin (which registers them)
and the gateway (which receives them).

Aurora fires a GET to `url_template` with `<PLACEHOLDER>`s substituted; our template names the event in a
static `event` parameter (Aurora's GET carries no event name of its own) and asks for every id the event
offers. The per-integration secret travels in a header through Aurora's `header_auth_key`/`header_auth_value`.
"""

from __future__ import annotations

from typing import Final

SECRET_HEADER: Final = "X-Aurora-Webhook-Secret"

# Placeholders Aurora substitutes per event (reference §9.1); the query names are ours.
EVENT_PLACEHOLDERS: Final[dict[str, dict[str, str]]] = {
    "agreement_status_changed": {
        "project_id": "<PROJECT_ID>",
        "agreement_id": "<AGREEMENT_ID>",
        "status": "<STATUS>",
        "design_id": "<DESIGN_ID>",
        "financing_id": "<FINANCING_ID>",
    },
    "project_status_changed": {"project_id": "<PROJECT_ID>", "status": "<STATUS>"},
}

# Query parameters the gateway accepts; anything else is refused with 400.
KNOWN_PARAMS: Final = frozenset(
    {
        "event",
        "project_id",
        "agreement_id",
        "status",
        "design_id",
        "financing_id",
        "job_id",
        "asset_id",
        "asset_type",
        "source",
        "milestone",
    }
)


def webhook_path(integration_id: str) -> str:
    return f"/webhooks/aurora/{integration_id}"


def url_template(public_base_url: str, integration_id: str, event: str) -> str:
    params = EVENT_PLACEHOLDERS.get(event, {"project_id": "<PROJECT_ID>", "status": "<STATUS>"})
    query = "&".join([f"event={event}", *(f"{name}={placeholder}" for name, placeholder in params.items())])
    return f"{public_base_url.rstrip('/')}{webhook_path(integration_id)}?{query}"


def secret_header_value(generation: int, secret: str) -> str:
    """`v<generation>.<secret>`: the generation lets the gateway verify without a database lookup."""
    return f"v{generation}.{secret}"


def parse_secret_header(value: str) -> tuple[int, str] | None:
    prefix, _, secret = value.partition(".")
    if not secret or not prefix.startswith("v") or not prefix[1:].isdigit() or len(prefix) > 8:
        return None
    return int(prefix[1:]), secret
