"""Which project fields a write changed, and the webhooks Aurora fires for it.

`project_changed` carries PROJECT_ID, SOURCE and ATTRIBUTES (reference §9.2, a third-party list; the
meaning of ATTRIBUTES is UNCERTAIN). The emulator's choice: ATTRIBUTES is the comma-separated names of
the top-level project fields that changed (`customer_phone,location`), SOURCE is `api` for the Aurora API
and `app` for the control API (which plays a person in Aurora's web app). A write that changes nothing
fires nothing.
"""

from typing import Any

from aurora_sim.model import PROJECT_FIELDS, Project

Event = tuple[str, dict[str, str | None]]


def apply_changes(project: Project, changes: dict[str, Any]) -> list[str]:
    """Stores `changes` on the project; returns the names of the fields whose value actually changed."""
    changed = [name for name in PROJECT_FIELDS if name in changes and project.data.get(name) != changes[name]]
    project.data.update(changes)
    return changed


def change_events(project: Project, changed: list[str], source: str) -> list[Event]:
    if not changed:
        return []
    events: list[Event] = []
    if "status" in changed:
        events.append(("project_status_changed", {"PROJECT_ID": project.id, "STATUS": project.data.get("status")}))
    events.append(("project_changed", {"PROJECT_ID": project.id, "SOURCE": source, "ATTRIBUTES": ",".join(changed)}))
    return events
