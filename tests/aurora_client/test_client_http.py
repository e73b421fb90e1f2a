"""The client against respx: paths, headers, envelopes, the error taxonomy, retries and Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import respx

from pipeline_common.aurora import (
    AuroraError,
    InvalidCredentials,
    InvalidRequest,
    NewProject,
    NewWebhook,
    NotFound,
    NotPermitted,
    PermanentAuroraError,
    RateLimited,
    TransientAuroraError,
    UnexpectedResponse,
    WebhookUpdate,
)

from .conftest import API, CREDS, TOKEN, Harness


def errors(*messages: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"message": m} for m in messages]}


async def test_request_shape(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(API).mock(
        return_value=httpx.Response(
            200, json={"tenant": {"id": "tenant-1", "name": "Acme", "created_at": "2026-01-01 00:00:00 UTC"}}
        )
    )
    tenant = await harness.client.retrieve_tenant(CREDS)
    assert tenant.name == "Acme"
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Aurora-API-Version"] == "2024.05"
    assert harness.calls[-1].endpoint == "retrieve_tenant"
    assert harness.calls[-1].status == 200


async def test_ids_are_quoted_into_one_path_segment(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(url__regex=r".*/projects/.*").mock(
        return_value=httpx.Response(200, json={"project": {"id": "p"}})
    )
    await harness.client.retrieve_project(CREDS, "../../other?x=1")
    assert route.calls.last.request.url.raw_path.endswith(b"/projects/..%2F..%2Fother%3Fx%3D1")


async def test_every_resource_path_and_envelope(harness: Harness, respx_mock: respx.MockRouter) -> None:
    c = harness.client
    routes = {
        ("GET", "/projects/p1/designs"): {"designs": [{"id": "d1", "milestone": None}]},
        ("GET", "/designs/d1"): {"design": {"id": "d1"}},
        ("GET", "/designs/d1/summary"): {"design": {"design_id": "d1"}},
        ("GET", "/designs/d1/pricing"): {"pricing": {"system_price": 1.0}},
        ("GET", "/designs/d1/financings"): {"financings": [{"id": "f1"}]},
        ("GET", "/designs/d1/financings/f1"): {"financing": {"id": "f1"}},
        ("GET", "/agreements/a1"): {"agreement": {"id": "a1", "status": "signed"}},
        ("GET", "/designs/d1/proposals/default"): {"proposal": {"id": "pr1"}},
        ("GET", "/designs/d1/web_proposal"): {"web_proposal": {"url": "https://w", "url_expired": False}},
        ("GET", "/designs/d1/assets"): {"assets": [{"id": "as1"}]},
        ("GET", "/projects/p1/assets"): {"assets": []},
        ("GET", "/assets/as1"): {"asset": {"id": "as1", "asset_type": "Hologram"}},
        ("GET", "/users"): {"users": [{"id": "u1"}]},
        ("GET", "/users/u1"): {"user": {"id": "u1", "first_name": "Ada", "last_name": "L"}},
        ("GET", "/projects/p1/consumption_profile"): {"consumption_profile": {"monthly_energy": [1] * 12}},
        ("GET", "/webhooks"): {"webhooks": [{"id": "w1"}]},
        ("GET", "/webhooks/w1"): {"webhook": {"id": "w1"}},
        ("PUT", "/webhooks/w1"): {"webhook": {"id": "w1", "enabled": False}},
    }
    for (method, path), body in routes.items():
        respx_mock.request(method, f"{API}{path}").mock(return_value=httpx.Response(200, json=body))
    respx_mock.delete(f"{API}/webhooks/w1").mock(return_value=httpx.Response(204))

    assert (await c.list_designs(CREDS, "p1"))[0].id == "d1"
    assert (await c.retrieve_design(CREDS, "d1")).id == "d1"
    assert (await c.retrieve_design_summary(CREDS, "d1")).design_id == "d1"
    assert (await c.retrieve_pricing(CREDS, "d1")).system_price == 1.0
    assert (await c.list_financings(CREDS, "d1"))[0].id == "f1"
    assert (await c.retrieve_financing(CREDS, "d1", "f1")).id == "f1"
    assert (await c.retrieve_agreement(CREDS, "a1")).is_signed
    assert (await c.retrieve_default_proposal(CREDS, "d1")).id == "pr1"
    assert (await c.retrieve_web_proposal(CREDS, "d1")).url_expired is False
    assert (await c.list_design_assets(CREDS, "d1"))[0].id == "as1"
    assert await c.list_project_assets(CREDS, "p1") == []
    assert (await c.retrieve_asset(CREDS, "as1")).asset_type == "Hologram"
    assert (await c.list_users(CREDS))[0].id == "u1"
    assert (await c.retrieve_user(CREDS, "u1")).full_name == "Ada L"
    profile = await c.retrieve_consumption_profile(CREDS, "p1")
    assert profile is not None
    assert profile.monthly_energy == [1.0] * 12
    assert (await c.list_webhooks(CREDS))[0].id == "w1"
    assert (await c.retrieve_webhook(CREDS, "w1")).id == "w1"
    assert (await c.update_webhook(CREDS, "w1", WebhookUpdate(enabled=False))).enabled is False
    assert await c.delete_webhook(CREDS, "w1") is None
    put = next(call for call in respx_mock.calls if call.request.method == "PUT")
    assert put.request.content == b'{"webhook":{"enabled":false}}'


async def test_create_bodies_omit_nulls(harness: Harness, respx_mock: respx.MockRouter) -> None:
    projects = respx_mock.post(f"{API}/projects").mock(
        return_value=httpx.Response(201, json={"project": {"id": "p9", "name": "Roof"}})
    )
    hooks = respx_mock.post(f"{API}/webhooks").mock(
        return_value=httpx.Response(201, json={"webhook": {"id": "w9", "event": "project_created"}})
    )
    project = await harness.client.create_project(CREDS, NewProject(name="Roof", external_provider_id="crm-1"))
    assert project.id == "p9"
    assert projects.calls.last.request.content == b'{"project":{"external_provider_id":"crm-1","name":"Roof"}}'
    hook = await harness.client.create_webhook(
        CREDS,
        NewWebhook(event="project_created", url_template="https://gw/x?p=<PROJECT_ID>", header_auth_value="v"),
    )
    assert hook.id == "w9"
    sent = hooks.calls.last.request.content
    assert b'"header_auth_value":"v"' in sent
    assert b"null" not in sent


async def test_missing_consumption_profile_is_none(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{API}/projects/p1/consumption_profile").mock(
        return_value=httpx.Response(404, json=errors("Consumption profile is not filled out"))
    )
    respx_mock.get(f"{API}/projects/p2/consumption_profile").mock(
        return_value=httpx.Response(404, json=errors("Not found"))
    )
    assert await harness.client.retrieve_consumption_profile(CREDS, "p1") is None
    with pytest.raises(NotFound):
        await harness.client.retrieve_consumption_profile(CREDS, "p2")


async def test_pagination_stops_on_short_page(harness: Harness, respx_mock: respx.MockRouter) -> None:
    pages = {1: ["a", "b"], 2: ["c", "d"], 3: ["e"]}

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        assert request.url.params["per_page"] == "2"
        return httpx.Response(200, json={"projects": [{"id": i} for i in pages[number]]})

    route = respx_mock.get(f"{API}/projects").mock(side_effect=page)
    ids = [p.id async for p in harness.client.iter_projects(CREDS, per_page=2)]
    assert ids == ["a", "b", "c", "d", "e"]
    assert route.call_count == 3


async def test_pagination_exact_multiple_needs_one_empty_page(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{API}/projects").mock(
        side_effect=[
            httpx.Response(200, json={"projects": [{"id": "a"}, {"id": "b"}]}),
            httpx.Response(200, json={"projects": []}),
        ]
    )
    assert [p.id async for p in harness.client.iter_projects(CREDS, per_page=2)] == ["a", "b"]
    assert route.call_count == 2


async def test_per_page_bounds_are_checked_locally(harness: Harness) -> None:
    with pytest.raises(ValueError, match="per_page"):
        await harness.client.list_projects(CREDS, per_page=251)
    with pytest.raises(ValueError, match="page"):
        await harness.client.list_projects(CREDS, page=0)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, PermanentAuroraError),
        (401, InvalidCredentials),
        (403, NotPermitted),
        (404, NotFound),
        (405, PermanentAuroraError),
        (409, PermanentAuroraError),
        (422, InvalidRequest),
    ],
)
async def test_client_errors_are_mapped_and_never_retried(
    harness: Harness, respx_mock: respx.MockRouter, status: int, error_class: type[AuroraError]
) -> None:
    route = respx_mock.get(f"{API}/agreements/a1").mock(
        return_value=httpx.Response(status, json=errors("first", "second"))
    )
    with pytest.raises(error_class) as caught:
        await harness.client.retrieve_agreement(CREDS, "a1")
    assert type(caught.value) is error_class
    assert caught.value.status == status
    assert caught.value.message == "first; second"
    assert caught.value.endpoint == "retrieve_agreement"
    assert not caught.value.retryable
    assert route.call_count == 1
    assert harness.sleeps == []


async def test_non_json_error_body_still_maps(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(API).mock(return_value=httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(TransientAuroraError, match="Bad Gateway"):
        await harness.client.retrieve_tenant(CREDS)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_transient_errors_are_retried_with_bounded_full_jitter(
    make_harness: Callable[..., Harness], respx_mock: respx.MockRouter, status: int
) -> None:
    harness = make_harness(max_retries=3, retry_base_delay=0.5, retry_max_delay=1.5)
    route = respx_mock.get(API).mock(return_value=httpx.Response(status, json=errors("boom")))
    with pytest.raises(TransientAuroraError) as caught:
        await harness.client.retrieve_tenant(CREDS)
    assert caught.value.status == status
    assert route.call_count == 4
    # jitter is pinned at 1.0, so each sleep is the ceiling: base * 2**attempt, capped.
    assert harness.sleeps == [0.5, 1.0, 1.5]
    assert [call.attempt for call in harness.calls] == [0, 1, 2, 3]


async def test_transient_then_success(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(API).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(503),
            httpx.Response(200, json={"tenant": {"id": "tenant-1"}}),
        ]
    )
    assert (await harness.client.retrieve_tenant(CREDS)).id == "tenant-1"
    assert [(c.status, c.error) for c in harness.calls] == [
        (None, "ConnectError"),
        (None, "ReadTimeout"),
        (503, None),
        (200, None),
    ]


async def test_jitter_is_used(make_harness: Callable[..., Harness], respx_mock: respx.MockRouter) -> None:
    harness = make_harness(max_retries=1)
    harness.client._jitter = lambda: 0.25
    respx_mock.get(API).mock(return_value=httpx.Response(500))
    with pytest.raises(TransientAuroraError):
        await harness.client.retrieve_tenant(CREDS)
    assert harness.sleeps == [0.125]


async def test_zero_retries(make_harness: Callable[..., Harness], respx_mock: respx.MockRouter) -> None:
    harness = make_harness(max_retries=0)
    route = respx_mock.get(API).mock(return_value=httpx.Response(500))
    with pytest.raises(TransientAuroraError):
        await harness.client.retrieve_tenant(CREDS)
    assert route.call_count == 1


async def test_create_is_not_retried_once_the_request_may_have_landed(
    harness: Harness, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(f"{API}/projects").mock(side_effect=httpx.ReadTimeout("lost answer"))
    with pytest.raises(TransientAuroraError):
        await harness.client.create_project(CREDS, {"name": "x"})
    assert route.call_count == 1


async def test_create_is_retried_when_the_connection_never_opened(
    harness: Harness, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(f"{API}/projects").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"project": {"id": "p"}})]
    )
    assert (await harness.client.create_project(CREDS, {"name": "x"})).id == "p"
    assert route.call_count == 2


async def test_retry_after_pauses_the_key(harness: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(API).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}, json=errors("Rate limit exceeded")),
            httpx.Response(200, json={"tenant": {"id": "tenant-1"}}),
        ]
    )
    started = time.monotonic()
    await harness.client.retrieve_tenant(CREDS)
    assert time.monotonic() - started >= 0.95
    assert route.call_count == 2
    # The wait happened in the limiter, not in a backoff sleep, and it is reported for metrics.
    assert harness.sleeps == []
    assert harness.calls[1].rate_limit_wait_seconds >= 0.95


async def test_retry_after_pause_holds_other_calls_on_the_same_key(
    harness: Harness, respx_mock: respx.MockRouter
) -> None:
    harness.client.limiter.pause(CREDS.key_fingerprint, 0.5)
    respx_mock.get(API).mock(return_value=httpx.Response(200, json={"tenant": {"id": "tenant-1"}}))
    started = time.monotonic()
    await harness.client.retrieve_tenant(CREDS)
    assert time.monotonic() - started >= 0.45


async def test_long_retry_after_is_handed_to_the_caller(
    make_harness: Callable[..., Harness], respx_mock: respx.MockRouter
) -> None:
    harness = make_harness(max_retry_after=10)
    route = respx_mock.get(API).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"}, json=errors("Rate limit exceeded"))
    )
    with pytest.raises(RateLimited) as caught:
        await harness.client.retrieve_tenant(CREDS)
    assert caught.value.retry_after == 3600
    assert caught.value.retryable
    assert caught.value.message == "Rate limit exceeded"
    assert route.call_count == 1
    assert harness.client.limiter.paused_for(CREDS.key_fingerprint) > 3500


async def test_persistent_429_is_bounded(make_harness: Callable[..., Harness], respx_mock: respx.MockRouter) -> None:
    harness = make_harness(max_retries=2)
    route = respx_mock.get(API).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "0"}, json=errors("Rate limit exceeded"))
    )
    with pytest.raises(RateLimited) as caught:
        await harness.client.retrieve_tenant(CREDS)
    assert caught.value.retry_after == 0
    assert route.call_count == 3


async def test_wrong_envelope_is_unexpected_response(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(API).mock(return_value=httpx.Response(200, json={"tennant": {}}))
    with pytest.raises(UnexpectedResponse, match="'tenant' envelope"):
        await harness.client.retrieve_tenant(CREDS)
    respx_mock.get(f"{API}/designs/d1").mock(return_value=httpx.Response(200, json={"design": {"name": 1}}))
    with pytest.raises(UnexpectedResponse, match="id"):
        await harness.client.retrieve_design(CREDS, "d1")


async def test_hook_failure_does_not_fail_the_call(harness: Harness, respx_mock: respx.MockRouter) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("metrics down")

    harness.client._on_call = broken
    respx_mock.get(API).mock(return_value=httpx.Response(200, json={"tenant": {"id": "tenant-1"}}))
    assert (await harness.client.retrieve_tenant(CREDS)).id == "tenant-1"
