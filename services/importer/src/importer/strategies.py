"""The company's matching strategy: what an import does to a CRM project that already exists.

- enrich: a mapped field takes Aurora's value when Aurora has one; the CRM's value stays otherwise. Nothing
  is ever blanked; new line items and documents are added, existing Aurora ones refreshed.
- replace: the mapped fields become exactly Aurora's, blanks included; Aurora-sourced line items and
  documents become exactly the current set. What users added by hand (source='manual') stays.
- skip: the existing project is left untouched; the import is logged and announced as skipped.

Two refinements keep "exactly Aurora's" honest:
- a section the fetcher reads only when it can find it (the agreement: named by the webhook or heard of
  earlier; the financing) being null means "not read this time", not "Aurora has none", so replace keeps
  what the CRM has for it; so does a key absent from a section (a record the fetcher could not get);
- `signed_at` is the moment the company first learnt of the signature: a later import never moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pipeline_common.vocabulary import MatchingStrategy

SECTIONS_READ_ON_DEMAND: Final = frozenset({"agreement", "financing"})
FIRST_VALUE_WINS: Final = frozenset({"signed_at"})


def merge_fields(
    strategy: MatchingStrategy,
    before: Mapping[str, Any] | None,
    incoming: Mapping[str, Any],
    unknown: Iterable[str] = (),
) -> dict[str, Any]:
    """The values the columns in `incoming` end with. `unknown` names columns Aurora was not asked about."""
    if before is None:
        return dict(incoming)
    not_read = frozenset(unknown)
    merged: dict[str, Any] = {}
    for column, value in incoming.items():
        old = before.get(column)
        keep_first = column in FIRST_VALUE_WINS and old is not None
        keep_blank = value is None and (strategy is not MatchingStrategy.REPLACE or column in not_read)
        merged[column] = old if keep_first or keep_blank else value
    return merged


def changed_columns(before: Mapping[str, Any] | None, after: Mapping[str, Any], columns: Iterable[str]) -> list[str]:
    """Columns whose stored value differs; compared as the database returned them, so 8.4 == 8.400."""
    if before is None:
        return [c for c in columns if after.get(c) is not None]
    return [c for c in columns if before.get(c) != after.get(c)]
