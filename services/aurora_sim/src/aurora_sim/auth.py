"""Bearer-key authentication, environment check, rate limit, tenant scoping and restricted-key operations."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from aurora_sim.catalog import API_VERSION
from aurora_sim.errors import AuroraError, JSONBytes, not_found
from aurora_sim.faults import decorate
from aurora_sim.model import ApiKey, Tenant
from aurora_sim.simulator import Simulator
from aurora_sim.store import Store

MISSING_AUTH = "Missing or invalid Authorization header"
INVALID_KEY = "Invalid API key"
WRONG_ENVIRONMENT = "API key is not valid for this environment"
FORBIDDEN = "This API key is not permitted to perform this action"
RATE_LIMITED = "Rate limit exceeded"


@dataclass(slots=True)
class Context:
    sim: Simulator
    request: Request
    tenant: Tenant
    key: ApiKey

    @property
    def store(self) -> Store:
        return self.sim.store

    def reply(self, body: dict[str, Any], status: int = 200) -> Response:
        spec = self.sim.faults.for_tenant(self.tenant.id) if self.sim.faults.active() else None
        if spec is not None and (spec.unknown_enum_values or spec.extra_fields or spec.null_fields):
            body = decorate(body, spec)
        return JSONBytes(body, status_code=status)

    def fire(self, event: str, values: dict[str, str | None]) -> None:
        self.sim.dispatcher.fire(self.tenant.id, event, values)


def _environment_of(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) == 3 and parts[0] in ("sk", "rk") and parts[1] in ("sand", "prod"):
        return parts[1]
    return None


def authenticate(sim: Simulator, request: Request, operation: str) -> Context:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuroraError(401, MISSING_AUTH)
    environment = _environment_of(token)
    if environment is not None and environment != sim.settings.env_segment:
        raise AuroraError(401, WRONG_ENVIRONMENT)
    key = sim.store.keys.get(token)
    if key is None:
        raise AuroraError(401, INVALID_KEY)
    version = request.headers.get("aurora-api-version")
    if version is not None and version.strip() != API_VERSION:
        raise AuroraError(400, f"Unsupported Aurora-API-Version {version!r}; the only valid value is {API_VERSION}")
    retry_after = sim.limiter.hit(token, sim.rate_limit_for(key.tenant_id))
    if retry_after is not None:
        raise AuroraError(429, RATE_LIMITED, {"Retry-After": str(retry_after)})
    tenant_id = request.path_params.get("tenant_id")
    tenant = sim.store.tenants.get(key.tenant_id)
    if tenant is None or tenant_id != key.tenant_id:
        raise not_found()
    if key.kind == "restricted" and operation not in key.operations:
        raise AuroraError(403, FORBIDDEN)
    return Context(sim=sim, request=request, tenant=tenant, key=key)


def authorize(operation: str) -> Callable[[Request], Awaitable[Context]]:
    # async so FastAPI runs it on the event loop, not in the thread pool: the store is not thread-safe.
    async def dependency(request: Request) -> Context:
        sim: Simulator = request.app.state.sim
        return authenticate(sim, request, operation)

    return dependency
