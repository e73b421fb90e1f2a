"""Field history (migration 0017): a trigger records every change to a project, contact or custom value in
the transaction of the change. A writer declares, once per transaction, who it is and which event caused it.
"""

from __future__ import annotations

from typing import Any

from pipeline_common.vocabulary import ChangeSource


async def declare_change(conn: Any, source: ChangeSource, event_id: str | None = None) -> None:
    """Call inside the writing transaction, before the writes; it ends with the transaction."""
    await conn.execute(
        "SELECT set_config('pipeline.change_source', $1, true), set_config('pipeline.event_id', $2, true)",
        source.value,
        event_id or "",
    )
