"""Create Project for the two-way flow, against respx: no nulls on the wire, refusals by field in plain
words, and the newest-projects re-check a caller makes before creating again."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

from pipeline_common.aurora import InvalidRequest, Location, NewProject
from pipeline_common.aurora.errors import plain_field_error

from .conftest import API, CREDS, TOKEN, Harness


def errors(*messages: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"message": m} for m in messages]}


async def test_none_keys_are_left_out_at_every_depth(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/projects").mock(
        return_value=httpx.Response(200, json={"project": {"id": "p1", "external_provider_id": "req-1"}})
    )
    created = await harness.client.create_project(
        CREDS,
        {
            "external_provider_id": "req-1",
            "name": "Ada Lovelace - 434 Brannan St",
            "customer_first_name": "Ada",
            "customer_email": None,
            "customer_phone": None,
            "project_type": "residential",
            "location": {"property_address": "434 Brannan St, San Francisco, CA 94107", "latitude": None},
            "not_a_known_field": None,
        },
    )
    assert created.id == "p1"
    assert created.external_provider_id == "req-1"
    assert orjson.loads(route.calls.last.request.content) == {
        "project": {
            "external_provider_id": "req-1",
            "name": "Ada Lovelace - 434 Brannan St",
            "customer_first_name": "Ada",
            "project_type": "residential",
            "location": {"property_address": "434 Brannan St, San Francisco, CA 94107"},
        }
    }
    await harness.client.create_project(
        CREDS, NewProject(location=Location(property_address="1 Main St", latitude=33.4, longitude=-111.8))
    )
    assert b"null" not in route.calls.last.request.content


async def test_refusal_comes_back_by_field_in_plain_words(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/projects").mock(
        return_value=httpx.Response(
            422,
            json=errors(
                "customer_email must be a string",
                "name is too long (maximum is 255 characters)",
                "location.property_address must be a string",
                f"owner_id {TOKEN} is not a user of this tenant",
                "Something went wrong",
            ),
        )
    )
    with pytest.raises(InvalidRequest) as caught:
        await harness.client.create_project(CREDS, {"name": "x" * 300})
    refusal = caught.value
    assert refusal.status == 422
    assert refusal.field_errors == {
        "customer_email": ["Customer email must be text"],
        "name": ["Name is too long (maximum is 255 characters)"],
        "location.property_address": ["Property address must be text"],
        "owner_id": ["Owner ID [REDACTED] is not a user of this tenant"],
        "": ["Something went wrong"],
    }
    assert TOKEN not in str(refusal)
    assert route.call_count == 1  # a refusal is final, never retried
    assert harness.sleeps == []


def test_plain_field_error_names_no_field_when_the_message_does_not_start_with_one() -> None:
    assert plain_field_error("Provide exactly one of monthly_energy, monthly_bill") == (
        "",
        "Provide exactly one of monthly_energy, monthly_bill",
    )
    assert plain_field_error("latitude/longitude out of range") == ("", "latitude/longitude out of range")
    assert plain_field_error("external_provider_id must be a string") == (
        "external_provider_id",
        "External provider ID must be text",
    )


async def test_newest_projects_reads_only_the_first_pages(harness: Harness, respx_mock: respx.MockRouter) -> None:
    tenant_projects = [{"id": f"p{n}", "external_provider_id": f"req-{n}"} for n in range(300, 0, -1)]

    def page(request: httpx.Request) -> httpx.Response:
        number, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
        chunk = tenant_projects[(number - 1) * per_page : number * per_page]
        return httpx.Response(200, json={"projects": chunk})

    route = respx_mock.get(f"{API}/projects").mock(side_effect=page)
    newest = await harness.client.newest_projects(CREDS, 3)
    assert [p.id for p in newest] == ["p300", "p299", "p298"]
    assert route.call_count == 1
    assert dict(route.calls.last.request.url.params) == {"page": "1", "per_page": "3"}

    route.reset()
    everything = await harness.client.newest_projects(CREDS, 1000)
    assert len(everything) == 300
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"page": "1", "per_page": "250"},
        {"page": "2", "per_page": "250"},
    ]

    route.reset()
    found = await harness.client.find_recent_project(CREDS, "req-290", search_depth=20)
    assert found is not None
    assert found.id == "p290"
    assert await harness.client.find_recent_project(CREDS, "req-1", search_depth=20) is None
    assert route.call_count == 2  # one page of 20 each time: older projects are not scanned

    with pytest.raises(ValueError, match="count"):
        await harness.client.newest_projects(CREDS, 0)
