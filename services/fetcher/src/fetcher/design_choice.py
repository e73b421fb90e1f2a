"""Which of a project's designs an import describes, and why (the rule goes in the log).

1. the agreement's design, when the trigger is an agreement;
2. otherwise the design carrying the `sold` milestone;
3. otherwise the only design;
4. otherwise the newest design with a non-zero price.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline_common.aurora import Design


@dataclass(frozen=True)
class DesignChoice:
    design_id: str | None
    rule: str


def _created(design: Design) -> float:
    return design.created_at.timestamp() if design.created_at else 0.0


async def choose_design(
    designs: list[Design],
    *,
    agreement_design_id: str | None,
    price_of: Callable[[str], Awaitable[float]],
) -> DesignChoice:
    if agreement_design_id:
        return DesignChoice(agreement_design_id, "agreement's design")
    sold = [d for d in designs if (d.milestone_name or "").casefold() == "sold"]
    if sold:
        return DesignChoice(max(sold, key=_created).id, "design with the sold milestone")
    if len(designs) == 1:
        return DesignChoice(designs[0].id, "the only design")
    for design in sorted(designs, key=_created, reverse=True):
        if await price_of(design.id) > 0:
            return DesignChoice(design.id, "newest design with a non-zero price")
    return DesignChoice(None, "no design with a price")
