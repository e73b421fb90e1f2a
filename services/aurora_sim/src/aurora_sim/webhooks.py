"""Webhook delivery: HTTP GET to the substituted url_template, retried on Aurora's schedule (reference §8)."""

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from aurora_sim.clock import Clock, fmt
from aurora_sim.faults import Faults
from aurora_sim.model import Webhook
from aurora_sim.settings import Settings
from aurora_sim.store import Store

RETRY_DELAYS_SECONDS = (30.0, 300.0, 1800.0, 10800.0, 72000.0)
DISABLE_AFTER_SECONDS = 48 * 3600.0
DISABLE_AFTER_ATTEMPTS = 100
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")


def render_url(template: str, values: dict[str, str | None]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return quote(value, safe="") if value else ""

    return _PLACEHOLDER.sub(substitute, template)


@dataclass
class Delivery:
    id: str
    tenant_id: str
    webhook_id: str
    event: str
    url: str
    values: dict[str, str | None]
    created_at: str | None
    injected: str | None = None
    status: str = "pending"  # pending | retrying | delivered | failed | abandoned
    attempts: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_at: str | None = None
    first_attempt_done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "webhook_id": self.webhook_id,
            "event": self.event,
            "url": self.url,
            "values": dict(self.values),
            "created_at": self.created_at,
            "injected": self.injected,
            "status": self.status,
            "attempts": [dict(a) for a in self.attempts],
            "next_attempt_at": self.next_attempt_at,
        }


class Dispatcher:
    def __init__(self, settings: Settings, clock: Clock, faults: Faults) -> None:
        self.settings = settings
        self.clock = clock
        self.faults = faults
        self.store: Store | None = None
        self.deliveries: OrderedDict[str, Delivery] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds, follow_redirects=False)

    async def stop(self) -> None:
        await self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self.deliveries.clear()

    def fire(self, tenant_id: str, event: str, values: dict[str, str | None]) -> list[str]:
        """Called after the state change is stored, as Aurora does; delivery happens in the background."""
        assert self.store is not None
        spec = self.faults.for_tenant(tenant_id)
        ids: list[str] = []
        for webhook_id in self.store.tenant_webhooks.get(tenant_id, []):
            webhook = self.store.webhooks[webhook_id]
            if webhook.event != event or not webhook.enabled:
                continue
            delivery = self._launch(webhook, values, None, None)
            ids.append(delivery.id)
            if spec is not None and self.faults.roll(spec.duplicate_webhooks):
                ids.append(self._launch(webhook, values, "duplicate", None).id)
            if (
                spec is not None
                and spec.out_of_order_webhooks
                and event == "agreement_status_changed"
                and values.get("STATUS") == "signed"
            ):
                stale = dict(values, STATUS="viewed")
                ids.append(self._launch(webhook, stale, "out_of_order", delivery).id)
        return ids

    def _launch(
        self, webhook: Webhook, values: dict[str, str | None], injected: str | None, after: Delivery | None
    ) -> Delivery:
        assert self.store is not None
        delivery = Delivery(
            id=self.store.new_id(),
            tenant_id=webhook.tenant_id,
            webhook_id=webhook.id,
            event=webhook.event,
            url=render_url(webhook.url_template, values),
            values=dict(values),
            created_at=fmt(self.clock.now()),
            injected=injected,
        )
        self.deliveries[delivery.id] = delivery
        while len(self.deliveries) > self.settings.delivery_log_limit:
            self.deliveries.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._run(webhook, delivery, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivery

    async def _run(self, webhook: Webhook, delivery: Delivery, after: Delivery | None) -> None:
        try:
            if after is not None:
                # The stale status must land after the newer one to exercise consumers' ordering logic.
                await after.first_attempt_done.wait()
            scale = self.settings.webhook_time_scale
            for attempt in range(len(RETRY_DELAYS_SECONDS) + 1):
                if attempt > 0:
                    delay = RETRY_DELAYS_SECONDS[attempt - 1] * scale
                    delivery.status = "retrying"
                    delivery.next_attempt_at = fmt(self.clock.now() + timedelta(seconds=delay))
                    await asyncio.sleep(delay)
                    delivery.next_attempt_at = None
                if not webhook.enabled:
                    delivery.status = "abandoned"
                    return
                ok = await self._attempt(webhook, delivery, attempt + 1)
                delivery.first_attempt_done.set()
                if ok:
                    delivery.status = "delivered"
                    return
            delivery.status = "failed"
        finally:
            delivery.first_attempt_done.set()

    async def _attempt(self, webhook: Webhook, delivery: Delivery, number: int) -> bool:
        assert self._client is not None
        headers = {"User-Agent": "Aurora-Webhooks/2024.05 (aurora_sim)"}
        if webhook.header_auth_key and webhook.header_auth_value is not None:
            headers[webhook.header_auth_key] = webhook.header_auth_value
        started = time.perf_counter()
        record: dict[str, Any] = {"attempt": number, "at": fmt(self.clock.now()), "status_code": None, "error": None}
        try:
            response = await self._client.get(delivery.url, headers=headers)
            record["status_code"] = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.TimeoutException:
            record["error"] = "timeout"
            ok = False
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        delivery.attempts.append(record)
        self._account(webhook, ok)
        return ok

    def _account(self, webhook: Webhook, ok: bool) -> None:
        if ok:
            webhook.failed_attempts = 0
            webhook.failing_since = None
            return
        now = time.monotonic()
        webhook.failed_attempts += 1
        if webhook.failing_since is None:
            webhook.failing_since = now
        window = DISABLE_AFTER_SECONDS * self.settings.webhook_time_scale
        if webhook.failed_attempts >= DISABLE_AFTER_ATTEMPTS or now - webhook.failing_since >= window:
            webhook.enabled = False
            webhook.disabled_reason = f"auto-disabled after {webhook.failed_attempts} consecutive failed attempts"

    def list(
        self, tenant_id: str | None, webhook_id: str | None, event: str | None, limit: int
    ) -> list[dict[str, Any]]:
        out = []
        for delivery in reversed(self.deliveries.values()):
            if tenant_id and delivery.tenant_id != tenant_id:
                continue
            if webhook_id and delivery.webhook_id != webhook_id:
                continue
            if event and delivery.event != event:
                continue
            out.append(delivery.to_api())
            if len(out) >= limit:
                break
        return out
