"""The CRM's own records through the admin API: contacts, projects made in the CRM, requests in the default
request workflow with their stage history, `Idempotency-Key` on the POSTs, and the 422s with field errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.admin.conftest import AdminApi, Company

pytestmark = [pytest.mark.postgres]

ADDRESS = {
    "street_address": "42 Mesquite Ln",
    "city": "Mesa",
    "state": "AZ",
    "postal_code": "85201",
    "country": "USA",
}
JANE = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+1 480 555 0100"}


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == error["errors"][0]["field"]
    return [e["field"] for e in error["errors"]]


async def stages(company: Company) -> dict[str, str]:
    workflows = (await company.get("/v1/request-workflows")).json()
    assert [w["is_default"] for w in workflows] == [True]
    return {s["name"]: s["id"] for s in workflows[0]["stages"]}


async def test_contacts_are_created_and_changed(admin: AdminApi) -> None:
    company = await admin.company()
    r = await company.post("/v1/contacts", JANE)
    assert r.status_code == 201, r.text
    contact = r.json()
    assert {k: contact[k] for k in JANE} == JANE
    assert (await company.get(f"/v1/contacts/{contact['id']}")).json() == contact

    # The email is the company's key for a contact, whatever its case.
    r = await company.post("/v1/contacts", {"last_name": "Other", "email": "JANE@example.com"})
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "duplicate_email",
        "message": "the company already has a contact with the email JANE@example.com",
        "field": "email",
    }
    assert fields_of(await company.post("/v1/contacts", {"email": "not-an-email"})) == ["email"]
    assert fields_of(await company.post("/v1/contacts", {"salutation": "Ms."})) == ["last_name"]
    assert fields_of(await company.post("/v1/contacts", {"first_name": "J", "nickname": "JJ"})) == ["nickname"]

    r = await company.patch(f"/v1/contacts/{contact['id']}", {"phone": None, "first_name": "  Janet "})
    assert r.status_code == 200, r.text
    assert (r.json()["first_name"], r.json()["phone"], r.json()["email"]) == ("Janet", None, JANE["email"])
    other = (await company.post("/v1/contacts", {"email": "sam@example.com"})).json()
    assert (await company.patch(f"/v1/contacts/{other['id']}", {"email": "jane@EXAMPLE.com"})).status_code == 409
    assert fields_of(await company.patch(f"/v1/contacts/{other['id']}", {"email": None})) == ["last_name"]
    assert (await company.get(f"/v1/contacts/{other['id']}")).json()["email"] == "sam@example.com"

    stranger = await admin.company("Stranger")
    assert (await stranger.patch(f"/v1/contacts/{contact['id']}", {"phone": "1"})).status_code == 404
    assert (await company.patch(f"/v1/contacts/{uuid.uuid4()}", {"phone": "1"})).status_code == 404


async def test_a_project_made_in_the_crm(admin: AdminApi) -> None:
    company = await admin.company()
    body = {
        "title": "Jane Doe - 42 Mesquite Ln",
        "value": 28560,
        "contact": JANE,
        **ADDRESS,
        "latitude": 33.4152,
        "longitude": -111.8315,
        "project_type": "residential",
    }
    r = await company.post("/v1/projects", body)
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["source"] == "manual"
    assert project["contract_value"] == "28560.00"
    assert project["full_address"] == "42 Mesquite Ln, Mesa, AZ 85201, USA"
    assert {k: project[k] for k in (*ADDRESS, "latitude", "longitude", "project_type", "title")} == {
        k: body[k] for k in (*ADDRESS, "latitude", "longitude", "project_type", "title")
    }
    assert project["aurora_project_id"] is None
    assert {k: project["contact"][k] for k in JANE} == JANE
    assert (await company.get(f"/v1/projects/{project['id']}")).json() == project

    # An inline contact with a known email is that contact: no second Jane.
    again = (await company.post("/v1/projects", {"title": "Battery", "contact": {"email": "Jane@Example.com"}})).json()
    assert again["contact_id"] == project["contact_id"]
    by_id = (await company.post("/v1/projects", {"title": "Roof", "contact_id": project["contact_id"]})).json()
    assert by_id["contact_id"] == project["contact_id"]
    assert len((await company.get("/v1/contacts")).json()["items"]) == 1
    assert len((await company.get("/v1/projects")).json()["items"]) == 3

    r = await company.patch(f"/v1/projects/{project['id']}", {"value": None, "title": "Doe - 9 kW", "city": "Tempe"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["contract_value"], changed["title"], changed["city"]) == (None, "Doe - 9 kW", "Tempe")
    assert changed["full_address"] == "42 Mesquite Ln, Tempe, AZ 85201, USA"
    assert (changed["contact_id"], changed["latitude"]) == (project["contact_id"], body["latitude"])
    assert fields_of(await company.patch(f"/v1/projects/{project['id']}", {"postal_code": None})) == ["postal_code"]
    assert fields_of(await company.patch(f"/v1/projects/{project['id']}", {"title": None})) == ["title"]
    assert (await company.patch(f"/v1/projects/{uuid.uuid4()}", {"title": "x"})).status_code == 404
    stranger = await admin.company("Stranger")
    assert (await stranger.patch(f"/v1/projects/{project['id']}", {"title": "mine"})).status_code == 404
    assert (await company.get(f"/v1/projects/{project['id']}")).json()["title"] == "Doe - 9 kW"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "x", "city": "Mesa"}, ["street_address", "postal_code"]),
        ({"title": "x", "street_address": "1 Elm St", "postal_code": "  "}, ["postal_code"]),
        ({"title": "x", **ADDRESS, "latitude": 33.4}, ["longitude"]),
        ({"title": "x", "value": -1}, ["value"]),
        (
            {"title": "x", "value": -1, "project_type": "industrial", "latitude": 91},
            ["value", "latitude", "project_type"],
        ),
        ({"title": "x", "contact_id": str(uuid.uuid4())}, ["contact_id"]),
        ({"title": "x", "contact": {"email": "nope"}, "postal_code": "85201"}, ["street_address", "contact.email"]),
        ({"title": "x", "contact": JANE, "contact_id": str(uuid.uuid4())}, ["contact"]),
        ({"title": ""}, ["title"]),
        ({"value": 3}, ["title"]),
    ],
)
@pytest.mark.parametrize("resource", ["/v1/projects", "/v1/requests"])
async def test_bad_input_is_refused_with_every_field_named(
    admin: AdminApi, resource: str, body: dict[str, Any], fields: list[str]
) -> None:
    company = await admin.company()
    assert sorted(fields_of(await company.post(resource, body))) == sorted(fields)
    # Nothing was made on the way to the refusal, not even the inline contact.
    assert (await company.get(resource)).json()["items"] == []
    assert (await company.get("/v1/contacts")).json()["items"] == []


async def test_another_companys_contact_is_an_unknown_contact(admin: AdminApi) -> None:
    owner, stranger = await admin.company("Owner"), await admin.company("Stranger")
    contact = (await owner.post("/v1/contacts", JANE)).json()
    for resource in ("/v1/projects", "/v1/requests"):
        r = await stranger.post(resource, {"title": "x", "contact_id": contact["id"]})
        assert fields_of(r) == ["contact_id"]
        assert r.json()["error"]["message"] == "contact_id: unknown contact"


async def test_requests_move_through_the_default_workflow(admin: AdminApi) -> None:
    company = await admin.company()
    stage_of = await stages(company)
    assert list(stage_of) == ["New Request", "Proposal", "Closed Won", "Closed Lost"]
    body = {"title": "Doe residence", "value": "24500.50", "contact": JANE, **ADDRESS, "project_type": "residential"}
    r = await company.post("/v1/requests", body)
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["stage"] == {"id": stage_of["New Request"], "name": "New Request", "outcome": "open"}
    assert request["value"] == "24500.50"
    assert request["full_address"] == "42 Mesquite Ln, Mesa, AZ 85201, USA"
    assert {k: request["contact"][k] for k in JANE} == JANE
    assert (request["aurora_project_id"], request["project_id"], request["linked_at"]) == (None, None, None)
    assert [(h["from_stage"], h["stage"]["name"], h["source"]) for h in request["stage_history"]] == [
        (None, "New Request", "user")
    ]

    r = await company.patch(f"/v1/requests/{request['id']}", {"stage_id": stage_of["Proposal"], "value": 26000})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["stage"]["name"], moved["value"]) == ("Proposal", "26000.00")
    assert [(h["from_stage"] and h["from_stage"]["name"], h["stage"]["name"]) for h in moved["stage_history"]] == [
        (None, "New Request"),
        ("New Request", "Proposal"),
    ]
    # Sending the stage it is in is no move.
    same = (await company.patch(f"/v1/requests/{request['id']}", {"stage_id": stage_of["Proposal"]})).json()
    assert len(same["stage_history"]) == 2
    assert (await company.get(f"/v1/requests/{request['id']}")).json() == same

    assert fields_of(await company.patch(f"/v1/requests/{request['id']}", {"stage_id": str(uuid.uuid4())})) == [
        "stage_id"
    ]
    assert fields_of(await company.patch(f"/v1/requests/{request['id']}", {"stage_id": None})) == ["stage_id"]
    assert fields_of(await company.patch(f"/v1/requests/{request['id']}", {"value": -5})) == ["value"]
    stranger = await admin.company("Stranger")
    stranger_stage = (await stages(stranger))["Closed Won"]
    assert fields_of(await company.patch(f"/v1/requests/{request['id']}", {"stage_id": stranger_stage})) == ["stage_id"]
    assert fields_of(await company.post("/v1/requests", {"title": "x", "stage_id": stranger_stage})) == ["stage_id"]
    assert (await stranger.get(f"/v1/requests/{request['id']}")).status_code == 404
    assert (await stranger.patch(f"/v1/requests/{request['id']}", {"title": "mine"})).status_code == 404
    assert (await stranger.get("/v1/requests")).json()["items"] == []

    won = (await company.post("/v1/requests", {"title": "Signed already", "stage_id": stage_of["Closed Won"]})).json()
    assert (won["stage"]["outcome"], won["contact"], won["street_address"]) == ("won", None, None)
    listed = (await company.get("/v1/requests")).json()
    assert [i["id"] for i in listed["items"]] == [won["id"], request["id"]]
    in_proposal = (await company.get("/v1/requests", params={"stage_id": stage_of["Proposal"]})).json()
    assert [i["id"] for i in in_proposal["items"]] == [request["id"]]
    assert (await company.get(f"/v1/requests/{request['id']}")).json()["stage"]["name"] == "Proposal"


@pytest.mark.parametrize(
    ("resource", "body", "changed", "unique"),
    [
        ("/v1/contacts", {"first_name": "Kim", "email": "kim@example.com"}, {"first_name": "Kimberly"}, "email"),
        ("/v1/projects", {"title": "Kim's roof", **ADDRESS}, {"title": "Kim's roof, again"}, None),
        ("/v1/requests", {"title": "Kim's roof", "value": 100}, {"value": 101}, None),
        ("/v1/workflows", {"name": "Kim's flow", "stages": ["New"]}, {"stages": ["New", "Done"]}, "name"),
        ("/v1/custom-properties", {"key": "kim", "name": "Kim", "type": "text"}, {"name": "Kimberly"}, "key"),
    ],
)
async def test_idempotency_key_answers_a_retry_without_a_second_record(
    admin: AdminApi, resource: str, body: dict[str, Any], changed: dict[str, Any], unique: str | None
) -> None:
    company = await admin.company()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await company.post(resource, body, headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # The same body spelt differently (key order) is the same request.
    retry = await company.post(resource, dict(reversed(list(body.items()))), headers=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()

    reused = await company.post(resource, {**body, **changed}, headers=key)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    # A key is the company's own: another company's same key makes its own record.
    stranger = await admin.company("Stranger")
    theirs = await stranger.post(resource, body, headers=key)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    # Another route is another request, even with the same key.
    other_route = "/v1/requests" if resource != "/v1/requests" else "/v1/projects"
    assert (await company.post(other_route, {"title": "x"}, headers=key)).json()["error"]["code"] == (
        "idempotency_key_reused"
    )
    # Without a key, the same body is a new record (where a field is unique, with another value of it).
    again = {**body, unique: "kim2@example.com" if unique == "email" else "kim2"} if unique else body
    assert (await company.post(resource, again)).status_code == 201

    listed = (await company.get(resource)).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert len(items) == 2
    assert first.json()["id"] in {i["id"] for i in items}


async def test_concurrent_calls_with_one_key_make_one_record(admin: AdminApi) -> None:
    company = await admin.company()
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    body = {"title": "Raced", "contact": {"email": "race@example.com"}, **ADDRESS}
    answers = await asyncio.gather(*(company.post("/v1/requests", body, headers=key) for _ in range(8)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 7
    assert len((await company.get("/v1/requests")).json()["items"]) == 1


async def test_a_refused_call_leaves_its_key_free(admin: AdminApi) -> None:
    company = await admin.company()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert fields_of(await company.post("/v1/projects", {"title": "x", "value": -1}, headers=key)) == ["value"]
    fixed = await company.post("/v1/projects", {"title": "x", "value": 1}, headers=key)
    assert fixed.status_code == 201, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers
    bad_key = await company.post("/v1/projects", {"title": "x"}, headers={"Idempotency-Key": "has space"})
    assert bad_key.status_code == 422
    assert bad_key.json()["error"]["field"] == "Idempotency-Key"
    assert len((await company.get("/v1/projects")).json()["items"]) == 1


async def test_openapi_documents_the_records_with_examples(admin: AdminApi) -> None:
    spec = admin.app.openapi()
    for path, method in (
        ("/v1/contacts", "post"),
        ("/v1/contacts/{contact_id}", "patch"),
        ("/v1/projects", "post"),
        ("/v1/projects/{project_id}", "patch"),
        ("/v1/requests", "post"),
        ("/v1/requests/{request_id}", "patch"),
    ):
        operation = spec["paths"][path][method]
        assert operation["requestBody"]["content"]["application/json"]["example"], (path, method)
        assert "422" in operation["responses"], (path, method)
        if method == "post":
            assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"]), path
    for name in ("RequestDetail", "RequestCreate", "ProjectCreate", "RequestWorkflow"):
        assert spec["components"]["schemas"][name].get("examples"), name
