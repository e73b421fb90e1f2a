"""Fault injection: transport faults (latency, 5xx, 429 storms, timeouts, resets) and response/webhook quirks."""

import random
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


class FaultSpec(BaseModel):
    tenant_id: str | None = Field(None, description="Scope to one tenant; omitted = global.")
    latency_ms: int = Field(0, ge=0, description="Added to every Aurora-path response.")
    latency_jitter_ms: int = Field(0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of requests answered with a 5xx.")
    error_status: int | None = Field(None, ge=500, le=599, description="Fixed 5xx; default: 500/502/503 mixed.")
    rate_limit_storm: float = Field(0.0, ge=0, le=1, description="Share of requests answered 429 (true = all).")
    storm_retry_after: int = Field(1, ge=0)
    timeout_rate: float = Field(0.0, ge=0, le=1, description="Share of requests that hang, then 504.")
    timeout_seconds: float = Field(30.0, ge=0)
    reset_rate: float = Field(0.0, ge=0, le=1, description="Share of connections dropped mid-response.")
    duplicate_webhooks: float = Field(0.0, ge=0, le=1, description="Share of deliveries sent twice.")
    out_of_order_webhooks: bool = Field(False, description="After each `signed`, also deliver a stale `viewed`.")
    unknown_enum_values: bool = False
    extra_fields: bool = False
    null_fields: bool = Field(
        False,
        description="Every field a record may leave empty answered `null`: lists and objects too, and the fields "
        "inside objects. Ids, the links between records, download URLs and agreement/job statuses keep their values.",
    )
    path_contains: str | None = Field(None, description="Only requests whose path contains this string.")
    proposal_pdf_jobs: Literal["succeed", "fail", "stall"] = Field(
        "succeed", description="How Run Proposal PDF Generation jobs started from now on end (stall: never)."
    )

    @field_validator(
        "rate_limit_storm", "duplicate_webhooks", "error_rate", "timeout_rate", "reset_rate", mode="before"
    )
    @classmethod
    def _bool_means_always(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        return value


class FileFault(BaseModel):
    """A storage fault on one asset's pre-signed file URL (file URLs carry no tenant, so faults name the asset)."""

    tenant_id: str
    asset_id: str
    fault: Literal["expired", "unauthorized"] = Field(
        description="expired: the asset's URLs are handed out already expired (403 `Request has expired` on "
        "download; a later read of the asset gives a fresh one once the fault is used up); unauthorized: "
        "downloads of the asset's file answer 401."
    )
    times: int | None = Field(None, ge=1, description="How many URLs/downloads it affects; null = all.")


class Faults:
    def __init__(self, seed: int | None) -> None:
        self.rng = random.Random(seed)
        self.global_spec: FaultSpec | None = None
        self.by_tenant: dict[str, FaultSpec] = {}
        # by file id: the asset's stored file, which is what a download names
        self.files: dict[str, FileFault] = {}

    def set_file_fault(self, file_id: str, fault: FileFault) -> None:
        self.files[file_id] = fault

    def take_file_fault(self, file_id: str, fault: str) -> bool:
        """Whether this URL issue / download of the file is hit by `fault`; uses up one of its `times`."""
        spec = self.files.get(file_id)
        if spec is None or spec.fault != fault:
            return False
        if spec.times is not None:
            spec.times -= 1
            if spec.times <= 0:
                del self.files[file_id]
        return True

    def set(self, spec: FaultSpec) -> None:
        if spec.tenant_id is None:
            self.global_spec = spec
        else:
            self.by_tenant[spec.tenant_id] = spec

    def clear(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self.global_spec = None
            self.by_tenant.clear()
            self.files.clear()
        else:
            self.by_tenant.pop(tenant_id, None)
            self.files = {k: v for k, v in self.files.items() if v.tenant_id != tenant_id}

    def active(self) -> bool:
        return self.global_spec is not None or bool(self.by_tenant)

    def for_tenant(self, tenant_id: str | None) -> FaultSpec | None:
        """A tenant's own spec replaces the global one entirely."""
        if tenant_id is not None:
            spec = self.by_tenant.get(tenant_id)
            if spec is not None:
                return spec
        return self.global_spec

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def describe(self) -> dict[str, Any]:
        return {
            "global": self.global_spec.model_dump() if self.global_spec else None,
            "tenants": {tid: spec.model_dump() for tid, spec in self.by_tenant.items()},
            "files": [spec.model_dump() for spec in self.files.values()],
        }


_EXTRA = {"sim_future_property": "added by a later Aurora release", "sim_future_object": {"enabled": True}}


def decorate(body: dict[str, Any], spec: FaultSpec) -> dict[str, Any]:
    """Applies Aurora's documented backwards-compatible drift (reference §3) to a response body in place."""
    for envelope, value in list(body.items()):
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                continue
            if spec.unknown_enum_values:
                _unknown_enums(envelope, item)
            if spec.extra_fields:
                item.update(_EXTRA)
            if spec.null_fields and envelope not in _NEVER_NULLED:
                _null_fields(item, keep=_KEPT | _KEPT_BY_ENVELOPE.get(envelope, frozenset()))
    return body


# What identifies a record and what a client needs to follow it (the next call, the download) is always set;
# every other field Aurora documents as optional or `|null` may come back null, lists included (issue 11).
_KEPT = frozenset({"id", "project_id", "design_id", "job_id", "url", "file_url"})
_KEPT_BY_ENVELOPE = {"agreement": frozenset({"status"}), "agreement_download_url_job": frozenset({"status"})}
# Webhook subscriptions are the integration's own configuration, not data it imports.
_NEVER_NULLED = frozenset({"webhook", "webhooks"})


def _null_fields(item: dict[str, Any], keep: frozenset[str]) -> None:
    for key, value in item.items():
        if key not in keep:
            item[key] = _nulled(value)


def _nulled(value: Any) -> Any:
    # A new object, never the stored one: nested objects (a project's location) are shared with the store.
    if isinstance(value, dict):
        return {key: inner if key in _KEPT else _nulled(inner) for key, inner in value.items()}
    return None


def _unknown_enums(envelope: str, item: dict[str, Any]) -> None:
    if envelope == "design" and isinstance(item.get("bill_of_materials"), list):
        item["bill_of_materials"].append(
            {
                "id": "00000000-0000-4000-8000-00000000e0c1",
                "component_type": "ev_chargers",
                "sku": "EVC-48A",
                "name": "Level 2 EV Charger 48A",
                "manufacturer_name": "ChargePoint",
                "quantity": 1,
            }
        )
    elif envelope == "pricing" and isinstance(item.get("system_cost_breakdown"), list):
        item["system_cost_breakdown"].append({"component": "dealer_fees", "cost": 0.0, "items": []})
    elif envelope == "agreement":
        item["signing_provider"] = "adobe_sign"
    elif envelope in ("financing", "financings") and isinstance(item.get("financier"), dict):
        item["financier"]["status"] = "under_review"
    elif envelope in ("user", "users"):
        item["account_status"] = "pending_sso"
