from __future__ import annotations

from fetcher.design_choice import choose_design
from pipeline_common.aurora import Design


def design(design_id: str, created: str, milestone: str | None = None) -> Design:
    return Design.model_validate(
        {"id": design_id, "created_at": created, "milestone": {"milestone": milestone} if milestone else None}
    )


async def prices(values: dict[str, float], asked: list[str]) -> object:
    async def price_of(design_id: str) -> float:
        asked.append(design_id)
        return values.get(design_id, 0.0)

    return price_of


async def test_agreement_design_wins_without_any_call() -> None:
    asked: list[str] = []
    choice = await choose_design([], agreement_design_id="d9", price_of=await prices({}, asked))  # type: ignore[arg-type]
    assert (choice.design_id, choice.rule) == ("d9", "agreement's design")
    assert asked == []


async def test_sold_milestone_then_only_design_then_newest_priced() -> None:
    asked: list[str] = []
    price_of = await prices({"old": 1000.0, "new": 0.0}, asked)
    designs = [
        design("old", "2026-01-01 10:00:00 UTC"),
        design("new", "2026-02-01 10:00:00 UTC"),
        design("sold", "2025-12-01 10:00:00 UTC", "sold"),
    ]
    choice = await choose_design(designs, agreement_design_id=None, price_of=price_of)  # type: ignore[arg-type]
    assert (choice.design_id, choice.rule) == ("sold", "design with the sold milestone")

    only = await choose_design([design("x", "2026-01-01 10:00:00 UTC")], agreement_design_id=None, price_of=price_of)  # type: ignore[arg-type]
    assert (only.design_id, only.rule) == ("x", "the only design")

    asked.clear()
    newest = await choose_design(designs[:2], agreement_design_id=None, price_of=price_of)  # type: ignore[arg-type]
    assert (newest.design_id, newest.rule) == ("old", "newest design with a non-zero price")
    assert asked == ["new", "old"]


async def test_no_priced_design_is_reported() -> None:
    asked: list[str] = []
    designs = [design("a", "2026-01-01 10:00:00 UTC"), design("b", "2026-01-02 10:00:00 UTC")]
    choice = await choose_design(designs, agreement_design_id=None, price_of=await prices({}, asked))  # type: ignore[arg-type]
    assert choice.design_id is None
