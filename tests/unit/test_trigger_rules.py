from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline_common.events import WebhookReceived
from trigger_filter.rules import IntegrationRules, TriggerRule, decide


def webhook(
    event: str = "agreement_status_changed", status: str | None = "signed", project: str | None = "p1"
) -> WebhookReceived:
    return WebhookReceived(
        event_id="e",
        integration_id="i",
        event=event,
        aurora_project_id=project,
        agreement_id="a1",
        status=status,
        received_at=datetime.now(UTC),
    )


def rules(*rule: TriggerRule, status: str = "active") -> IntegrationRules:
    return IntegrationRules("i", "c", "t", status, tuple(rule))


SIGNED = TriggerRule.of("agreement_status_changed", ["signed"])


def test_default_trigger_starts_on_signed() -> None:
    decision = decide(webhook(), rules(SIGNED))
    assert decision.start
    assert decision.subject == "agreement:a1"
    assert decision.rank == 3


@pytest.mark.parametrize(
    ("event", "integration", "reason"),
    [
        (webhook(), None, "unknown integration"),
        (webhook(), rules(SIGNED, status="disconnected"), "integration is disconnected"),
        (webhook(), rules(SIGNED, status="needs_attention"), "integration is needs attention"),
        (webhook(event="lead_created"), rules(SIGNED), "unfamiliar event type 'lead_created'"),
        (webhook(event="design_created"), rules(SIGNED), "no trigger uses design_created events"),
        (webhook(status="viewed"), rules(SIGNED), "no trigger matches agreement_status_changed → 'viewed'"),
        (webhook(status="declined"), rules(SIGNED), "agreement status 'declined' never starts an import"),
        (webhook(status="notarised"), rules(SIGNED), "unfamiliar agreement status 'notarised'"),
        (webhook(project=None), rules(SIGNED), "the webhook carries no project id"),
        (webhook(status=None), rules(SIGNED), "the webhook carries no status"),
    ],
)
def test_events_that_go_no_further_say_why(
    event: WebhookReceived, integration: IntegrationRules | None, reason: str
) -> None:
    decision = decide(event, integration)
    assert not decision.start
    assert decision.reason == reason


def test_project_status_matches_trimmed_and_case_insensitively() -> None:
    rule = TriggerRule.of("project_status_changed", ["Project Sold"])
    decision = decide(webhook(event="project_status_changed", status="  project   SOLD "), rules(rule))
    assert decision.start
    assert decision.subject == "project_status:p1"


def test_unknown_trigger_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not_a_kind"):
        TriggerRule.of("not_a_kind", ["x"])


def test_a_status_that_matches_no_trigger_still_names_its_subject() -> None:
    # The filter remembers every project status it hears, so one in between (Installed → Permit → Installed)
    # makes the status that comes back a new event rather than a redelivery.
    rule = TriggerRule.of("project_status_changed", ["Installed"])
    decision = decide(webhook(event="project_status_changed", status="Permit"), rules(rule))
    assert not decision.start
    assert (decision.subject, decision.status) == ("project_status:p1", "permit")
