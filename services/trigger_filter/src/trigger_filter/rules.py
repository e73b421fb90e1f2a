"""Whether an Aurora event starts an import for a company: pure decisions, no I/O.

Agreement statuses have a precedence (sent < viewed < signed) so a late, lower status never starts an
import that would undo a later state. Project statuses are the tenant's free text, compared trimmed and
case-insensitively, with no order: a status may come back (Installed → Permit → Installed). Everything else
(unknown events, negative agreement statuses, unfamiliar values) is not an error: the decision says why it
goes no further.

A decision about a project or agreement status names its `subject` even when no trigger matches, so the
filter can remember what it heard (app.py tells redeliveries from later transitions with it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_common.aurora.models import normalize_agreement_status
from pipeline_common.events import AuroraEventKind, WebhookReceived
from pipeline_common.vocabulary import (
    AGREEMENT_PRECEDENCE,
    NEGATIVE_AGREEMENT_STATUSES,
    AgreementStatus,
    IntegrationStatus,
    TriggerKind,
)


@dataclass(frozen=True)
class TriggerRule:
    kind: TriggerKind
    statuses: frozenset[str]

    @classmethod
    def of(cls, kind: str, statuses: list[str]) -> TriggerRule:
        return cls(TriggerKind(kind), frozenset(normalise_status(s) for s in statuses))


@dataclass(frozen=True)
class IntegrationRules:
    integration_id: str
    company_id: str
    aurora_tenant_id: str
    status: str
    rules: tuple[TriggerRule, ...]


@dataclass(frozen=True)
class Decision:
    start: bool
    reason: str
    trigger: TriggerRule | None = None
    subject: str | None = None
    status: str | None = None
    rank: int = 0


def normalise_status(value: str) -> str:
    return " ".join(value.split()).casefold()


def decide(event: WebhookReceived, integration: IntegrationRules | None) -> Decision:
    if integration is None:
        return Decision(False, "unknown integration")
    if integration.status != IntegrationStatus.ACTIVE:
        return Decision(False, f"integration is {integration.status.replace('_', ' ')}")
    if event.event not in {k.value for k in AuroraEventKind}:
        return Decision(False, f"unfamiliar event type {event.event!r}")
    if event.event not in {k.value for k in TriggerKind}:
        return Decision(False, f"no trigger uses {event.event} events")
    if not event.aurora_project_id:
        return Decision(False, "the webhook carries no project id")
    status = normalise_status(event.status or "")
    if not status:
        return Decision(False, "the webhook carries no status")
    kind = TriggerKind(event.event)
    if kind is TriggerKind.AGREEMENT_STATUS_CHANGED:
        spelled = normalize_agreement_status(status)
        if spelled in NEGATIVE_AGREEMENT_STATUSES:
            return Decision(False, f"agreement status {status!r} never starts an import")
        if spelled not in AGREEMENT_PRECEDENCE:
            return Decision(False, f"unfamiliar agreement status {status!r}")
        subject = f"agreement:{event.agreement_id or event.aurora_project_id}"
        rank = AGREEMENT_PRECEDENCE[AgreementStatus(spelled)]
    else:
        subject = f"project_status:{event.aurora_project_id}"
        rank = 0
    for rule in integration.rules:
        if rule.kind is kind and status in rule.statuses:
            return Decision(True, f"trigger {kind.value} → {status}", rule, subject, status, rank)
    return Decision(False, f"no trigger matches {kind.value} → {status!r}", None, subject, status, rank)
