"""Per-key sliding-window rate limit: 429, integer Retry-After, Aurora error body."""

from __future__ import annotations

from tests.fixtures.aurora_sim import AuroraSim, start_aurora_sim


def test_configured_limit_on_a_separate_instance() -> None:
    with start_aurora_sim(RATE_LIMIT_PER_MINUTE="5") as sim:
        tenant = sim.create_tenant("Limited Solar")
        second_key = sim.create_key(tenant.tenant_id, [], kind="standard")
        path = f"/tenants/{tenant.tenant_id}/projects"
        with sim.api(tenant.api_key) as api:
            assert [api.get(path).status_code for _ in range(5)] == [200] * 5
            limited = api.get(path)
            assert limited.status_code == 429
            assert limited.json() == {"errors": [{"message": "Rate limit exceeded"}]}
            retry_after = limited.headers["Retry-After"]
            assert retry_after.isdigit()
            assert 1 <= int(retry_after) <= 60
            # The control API and file downloads are not counted.
            assert sim.http.get("/_sim/health").status_code == 200
        with sim.api(second_key) as other:  # the window is per key
            assert other.get(path).status_code == 200
        assert sim.requests(status=429)


def test_per_tenant_override(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Slow Lane Solar", rate_limit_per_minute=3)
    path = f"/tenants/{tenant.tenant_id}"
    with aurora_sim.api(tenant.api_key) as api:
        assert [api.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]
        aurora_sim.set_rate_limit(tenant.tenant_id, None)
        assert api.get(path).status_code == 200
