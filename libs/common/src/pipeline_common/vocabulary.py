"""The words the services, the SQL and the pages share, each defined once.

A value stored in a column with a CHECK constraint is listed here, and tests/unit/test_vocabulary.py
compares every such constraint with its enum, so adding a value means one entry here, one migration that
widens the CHECK, and (for a trigger kind) its rule in trigger_filter/rules.py.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final


class TriggerKind(StrEnum):
    """Which Aurora webhook event a company's trigger watches (`integration_triggers.kind`)."""

    AGREEMENT_STATUS_CHANGED = "agreement_status_changed"
    PROJECT_STATUS_CHANGED = "project_status_changed"


class AgreementStatus(StrEnum):
    """Aurora's agreement statuses, in the object's spelling (the webhook says `cancel-pending`; see
    `pipeline_common.aurora.models.normalize_agreement_status`). Unknown values pass through as text."""

    SENT = "sent"
    VIEWED = "viewed"
    SIGNED = "signed"
    CANCEL_PENDING = "cancel_pending"
    CANCELED = "canceled"
    DECLINED = "declined"
    ERROR = "error"


# A deal moves forward through these; a late, lower status never undoes a later one.
AGREEMENT_PRECEDENCE: Final[dict[AgreementStatus, int]] = {
    AgreementStatus.SENT: 1,
    AgreementStatus.VIEWED: 2,
    AgreementStatus.SIGNED: 3,
}
# Statuses that end a deal: never a reason to import.
NEGATIVE_AGREEMENT_STATUSES: Final = frozenset(
    {AgreementStatus.CANCEL_PENDING, AgreementStatus.CANCELED, AgreementStatus.DECLINED, AgreementStatus.ERROR}
)
# What a trigger on agreements may list: the statuses with a precedence.
TRIGGER_AGREEMENT_STATUSES: Final = tuple(AGREEMENT_PRECEDENCE)


class MatchingStrategy(StrEnum):
    """What an import does to a CRM project it matched (`integrations.matching_strategy`)."""

    ENRICH = "enrich"
    REPLACE = "replace"
    SKIP = "skip"


class IntegrationStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_ATTENTION = "needs_attention"
    DISCONNECTED = "disconnected"


class LogKind(StrEnum):
    """`integration_log.kind`: what an entry is about. The outcome of an import is its `action`."""

    WEBHOOK = "webhook"
    COALESCED = "coalesced"
    REPLAYED = "replayed"
    SKIPPED = "skipped"
    PARKED = "parked"
    FETCH_ERROR = "fetch_error"
    IMPORT = "import"
    RESYNC = "resync"
    BACKFILL = "backfill"
    SETTINGS = "settings"
    SUBSCRIPTIONS = "subscriptions"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    TOKEN_REPLACED = "token_replaced"
    NEEDS_ATTENTION = "needs_attention"


# Labels of the settings page's log filter, one per kind (the unit test keeps them complete).
LOG_KIND_LABELS: Final[dict[LogKind, str]] = {
    LogKind.WEBHOOK: "Webhook received",
    LogKind.COALESCED: "Merged into a waiting fetch",
    LogKind.REPLAYED: "Replayed by an operator",
    LogKind.SKIPPED: "Not fetched",
    LogKind.PARKED: "Parked",
    LogKind.FETCH_ERROR: "Fetch error",
    LogKind.IMPORT: "Import result",
    LogKind.RESYNC: "Re-sync",
    LogKind.BACKFILL: "Backfill",
    LogKind.SETTINGS: "Settings changed",
    LogKind.SUBSCRIPTIONS: "Aurora subscriptions",
    LogKind.CONNECTED: "Connected",
    LogKind.DISCONNECTED: "Disconnected",
    LogKind.TOKEN_REPLACED: "Token replaced",
    LogKind.NEEDS_ATTENTION: "Needs attention",
}
# Entries that count as a failure on the integration's summary and the page's "recent failures".
FAILURE_LOG_KINDS: Final = (LogKind.FETCH_ERROR,)


class FetchPriority(IntEnum):
    """`fetch_queue.priority`: lower goes first, so a company's live events overtake its backfill."""

    LIVE = 0
    BACKFILL = 1


class FetchJobKind(StrEnum):
    IMPORT = "import"
    BACKFILL_SCAN = "backfill_scan"


class FetchJobStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    PARKED = "parked"
    FAILED = "failed"


class BackfillStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RecordSource(StrEnum):
    """Who made a CRM row: a person (or the CRM's API) or an Aurora import."""

    MANUAL = "manual"
    AURORA = "aurora"


class LineItemKind(StrEnum):
    COMPONENT = "component"
    ADDER = "adder"
    DISCOUNT = "discount"
    INCENTIVE = "incentive"
    OTHER = "other"


class ProjectType(StrEnum):
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"


class StageOutcome(StrEnum):
    """Where a request stage leads: still open, or the deal won or lost (the workflow's end stages)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class StageChangeSource(StrEnum):
    """Who moved a request to a stage (`request_stage_history.source`)."""

    USER = "user"
    AURORA = "aurora"


class ChangeSource(StrEnum):
    """Who changed a CRM field (`field_changes.source`, migration 0017)."""

    AURORA_IMPORT = "aurora_import"
    REAPPLY = "reapply"
    TWO_WAY = "two_way"
    API = "api"
    DATABASE = "database"
