"""The admin's share of a key's Aurora budget is one setting (libs/common), read by the admin and the fetcher,
and every document that talks about it quotes the same value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from admin.settings import AdminSettings
from fetcher.settings import FetcherSettings
from pipeline_common.aurora import AuroraSettings

ROOT = Path(__file__).resolve().parents[2]
SETTING = "AURORA_ADMIN_REQUESTS_PER_MINUTE"
# Names that once held their own copy of the value (and disagreed).
RETIRED = ("FETCHER_ADMIN_HEADROOM_PER_MINUTE", "ADMIN_AURORA_REQUESTS_PER_MINUTE", "`ADMIN_HEADROOM_PER_MINUTE`")
DOCS = ("README.md", "services/fetcher/README.md", "services/admin/README.md")


def test_the_split_adds_up_to_the_key_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (SETTING, "AURORA_REQUESTS_PER_MINUTE"):
        monkeypatch.delenv(name, raising=False)
    default = AuroraSettings()
    assert default.admin_budget_per_minute == 15
    assert default.fetcher_budget_per_minute == 75
    assert default.admin_budget_per_minute + default.fetcher_budget_per_minute == default.requests_per_minute

    monkeypatch.setenv(SETTING, "10")
    changed = AuroraSettings()
    assert (changed.admin_budget_per_minute, changed.fetcher_budget_per_minute) == (10, 80)


def test_no_service_keeps_its_own_copy() -> None:
    assert not {"admin_headroom_per_minute"} & set(FetcherSettings.model_fields)
    assert not {"aurora_requests_per_minute"} & set(AdminSettings.model_fields)
    # Both services read the shared settings object, so one environment variable moves both limiters.
    assert AdminSettings.model_fields["aurora"].annotation is AuroraSettings


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_quote_the_one_value(doc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING, raising=False)
    text = (ROOT / doc).read_text()
    for name in RETIRED:
        assert name not in text, f"{doc} still names {name}"
    quoted = [int(n) for n in re.findall(SETTING + r"`[^0-9\n]{0,60}?(\d+)", text)]
    assert quoted, f"{doc} does not quote {SETTING}"
    assert set(quoted) == {AuroraSettings().admin_requests_per_minute}, f"{doc} quotes {quoted}"
