from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline_common import topics
from pipeline_common.events import (
    ImportAction,
    ProjectImported,
    TriggerRef,
    WebhookReceived,
    cloudevent_headers,
    derive_event_id,
)


def test_event_ids_are_derived_deterministically_per_stage() -> None:
    assert derive_event_id("abc", "import") == derive_event_id("abc", "import")
    assert derive_event_id("abc", "import") != derive_event_id("abc", "fetch")
    assert derive_event_id("abc", "import") != derive_event_id("abd", "import")


def test_webhook_round_trip_keeps_unfamiliar_event_names() -> None:
    event = WebhookReceived(
        event_id="e1",
        integration_id="i1",
        event="brand_new_event",
        params={"event": "brand_new_event"},
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    again = WebhookReceived.from_bytes(event.to_bytes())
    assert again == event
    assert again.event == "brand_new_event"


def test_contracts_ignore_fields_added_later_but_reject_missing_ones() -> None:
    body = b'{"event_id":"e","integration_id":"i","event":"x","received_at":"2026-01-01T00:00:00Z","added_later":1}'
    assert WebhookReceived.from_bytes(body).event == "x"
    with pytest.raises(ValidationError):
        WebhookReceived.from_bytes(b'{"event_id":"e"}')


def test_project_imported_is_versioned_and_carries_cloudevent_headers() -> None:
    event = ProjectImported(
        event_id="e",
        company_id="c",
        crm_project_id="p",
        aurora_tenant_id="t",
        aurora_project_id="a",
        action=ImportAction.CREATED,
        trigger=TriggerRef(kind="agreement_status_changed", status="signed"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert event.model_dump()["schema_version"] == 1
    headers = cloudevent_headers(event, event_id="e", source="/importer", subject="p")
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "com.crm.project.imported.v1"
    assert headers["ce_id"] == "e"
    assert event.topic == topics.PROJECT_IMPORTED


def test_every_consumed_topic_has_retry_and_dead_letter_topics() -> None:
    names = topics.every_topic()
    for topic in topics.CONSUMED:
        assert f"{topic}.retry" in names
        assert f"{topic}.dlq" in names
    assert topics.message_key("i", "p") == b"i:p"


def test_trace_context_continues_across_stages() -> None:
    from pipeline_common.events import CURRENT_TRACEPARENT, child_traceparent, trace_id_of

    first = child_traceparent(None)
    version, trace_id, span_id, flags = first.split("-")
    assert (version, flags, len(trace_id), len(span_id)) == ("00", "01", 32, 16)
    token = CURRENT_TRACEPARENT.set(first)
    try:
        event = WebhookReceived(event_id="e", integration_id="i", event="x", received_at=datetime.now(UTC))
        headers = cloudevent_headers(event, event_id="e", source="/s", subject="p")
    finally:
        CURRENT_TRACEPARENT.reset(token)
    assert trace_id_of(headers["traceparent"]) == trace_id
    assert headers["traceparent"] != first
    assert trace_id_of(child_traceparent("garbage")) is not None
