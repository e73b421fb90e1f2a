"""Pure ASGI middleware in front of every Aurora path: records the request and applies transport faults."""

import asyncio
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aurora_sim.clock import fmt
from aurora_sim.errors import AuroraError
from aurora_sim.faults import FaultSpec
from aurora_sim.model import fingerprint
from aurora_sim.simulator import Simulator

_TENANT_PATH = re.compile(r"^/tenants/([^/]+)")


def tenant_of(path: str) -> str | None:
    match = _TENANT_PATH.match(path)
    return match.group(1) if match else None


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class TrafficMiddleware:
    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/tenants") or path.startswith("/files/")):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        tenant_id = tenant_of(path)
        status = [0]
        fault_note: list[str] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            spec = (
                self.sim.faults.for_tenant(tenant_id)
                if self.sim.faults.active() and path.startswith("/tenants")
                else None
            )
            applies = spec is not None and (spec.path_contains is None or spec.path_contains in path)
            if spec is not None and applies and await self._inject(spec, recording_send, fault_note):
                return
            await self.app(scope, receive, recording_send)
        finally:
            self._record(scope, path, tenant_id, status[0], started, fault_note)

    async def _inject(self, spec: FaultSpec, send: Send, note: list[str]) -> bool:
        """Returns True when the fault fully answered (or dropped) the request."""
        faults = self.sim.faults
        if spec.latency_ms or spec.latency_jitter_ms:
            jitter = faults.rng.uniform(0, spec.latency_jitter_ms) if spec.latency_jitter_ms else 0.0
            await asyncio.sleep((spec.latency_ms + jitter) / 1000)
            note.append("latency")
        if faults.roll(spec.reset_rate):
            note.append("reset")
            # Starting a response and returning without its body makes uvicorn close the connection:
            # the client sees the peer drop mid-response, like a reset.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
                }
            )
            return True
        if faults.roll(spec.timeout_rate):
            note.append("timeout")
            await asyncio.sleep(spec.timeout_seconds)
            await _send_error(send, AuroraError(504, "Gateway Timeout"))
            return True
        if faults.roll(spec.error_rate):
            note.append("error")
            code = spec.error_status or faults.rng.choice((500, 502, 503))
            await _send_error(
                send, AuroraError(code, "Internal server error" if code == 500 else "Service unavailable")
            )
            return True
        if faults.roll(spec.rate_limit_storm):
            note.append("rate_limit_storm")
            retry = {"Retry-After": str(spec.storm_retry_after)}
            await _send_error(send, AuroraError(429, "Rate limit exceeded", retry))
            return True
        return False

    def _record(
        self, scope: Scope, path: str, tenant_id: str | None, status: int, started: float, note: list[str]
    ) -> None:
        sim = self.sim
        sim.request_seq += 1
        token = bearer_token(scope)
        query: bytes = scope.get("query_string", b"")
        entry: dict[str, Any] = {
            "id": sim.request_seq,
            "time": fmt(sim.clock.now()),
            "method": scope.get("method"),
            "path": path,
            "query": query.decode("latin-1"),
            "tenant_id": tenant_id,
            "key_fingerprint": fingerprint(token) if token else None,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "faults": note,
        }
        sim.requests.append(entry)


async def _send_error(send: Send, error: AuroraError) -> None:
    response = error.response()
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
