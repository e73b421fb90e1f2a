"""The emulator's state and services, shared by the Aurora routes, the control API and the middleware."""

import hashlib
import hmac
import secrets
from collections import deque
from typing import Any

from starlette.requests import Request

from aurora_sim.clock import Clock
from aurora_sim.documents import render
from aurora_sim.faults import Faults
from aurora_sim.model import Asset, StoredFile
from aurora_sim.ratelimit import SlidingWindowLimiter
from aurora_sim.settings import Settings
from aurora_sim.store import Store
from aurora_sim.webhooks import Dispatcher


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.store = Store(self.clock, settings.seed)
        self.limiter = SlidingWindowLimiter()
        self.faults = Faults(settings.seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=settings.request_log_limit)
        self.request_seq = 0
        self.dispatcher = Dispatcher(settings, self.clock, self.faults)
        self.dispatcher.store = self.store
        # Signs file URLs like a pre-signed storage URL; per process, so URLs don't survive a restart.
        self._url_secret = secrets.token_bytes(32)
        self._file_cache: dict[str, bytes] = {}

    async def reset(self) -> None:
        await self.dispatcher.cancel_all()
        self.clock = Clock()
        self.store = Store(self.clock, self.settings.seed)
        self.dispatcher.store = self.store
        self.dispatcher.clock = self.clock
        self.limiter.clear()
        self.faults.clear()
        self.requests.clear()
        self._file_cache.clear()

    def rate_limit_for(self, tenant_id: str) -> int:
        tenant = self.store.tenants.get(tenant_id)
        if tenant is not None and tenant.rate_limit_per_minute is not None:
            return tenant.rate_limit_per_minute
        return self.settings.rate_limit_per_minute

    def base_url(self, request: Request) -> str:
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def _signature(self, file_id: str, expires: int) -> str:
        return hmac.new(self._url_secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def file_url(self, request: Request, stored: StoredFile) -> str:
        expires = int(self.clock.epoch()) + self.settings.file_url_ttl_seconds
        return self.signed_file_url(request, stored, expires)

    def asset_url(self, request: Request, asset: Asset) -> str:
        """An asset's pre-signed URL, fresh on every read, unless an `expired` file fault hands out a stale one."""
        stored = self.store.files[asset.file_id]
        if self.faults.take_file_fault(stored.id, "expired"):
            return self.signed_file_url(request, stored, int(self.clock.epoch()) - 60)
        return self.file_url(request, stored)

    def signed_file_url(self, request: Request, stored: StoredFile, expires: int) -> str:
        signature = self._signature(stored.id, expires)
        return f"{self.base_url(request)}/files/{stored.id}/{stored.file_name}?expires={expires}&signature={signature}"

    def check_signature(self, file_id: str, expires: int, signature: str) -> str | None:
        """None when valid, else why not."""
        if not hmac.compare_digest(self._signature(file_id, expires), signature):
            return "Signature does not match"
        if self.clock.epoch() > expires:
            return "Request has expired"
        return None

    def file_bytes(self, stored: StoredFile) -> bytes:
        body = self._file_cache.get(stored.id)
        if body is None:
            body = render(stored.kind, stored.context)
            if len(self._file_cache) > 2000:
                self._file_cache.clear()
            self._file_cache[stored.id] = body
        return body
