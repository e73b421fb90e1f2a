"""All emulator state, indexed for O(1) lookups; one instance per app, replaced on `/_sim/reset`."""

import bisect
import random
import string
import uuid
from collections import defaultdict
from typing import TypeVar

from aurora_sim.clock import Clock
from aurora_sim.errors import not_found
from aurora_sim.model import (
    Agreement,
    ApiKey,
    Asset,
    Design,
    DownloadJob,
    Financing,
    Project,
    ProposalPdfJob,
    StoredFile,
    Tenant,
    User,
    Webhook,
)

T = TypeVar("T", User, Project, Design, Financing, Agreement, Asset, Webhook)

_KEY_ALPHABET = string.ascii_letters + string.digits


class Store:
    def __init__(self, clock: Clock, seed: int | None) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.tenants: dict[str, Tenant] = {}
        self.keys: dict[str, ApiKey] = {}
        self.users: dict[str, User] = {}
        self.tenant_users: defaultdict[str, list[str]] = defaultdict(list)
        self.projects: dict[str, Project] = {}
        # Per tenant, ascending by (created_at, seq): lists are served newest first by walking backwards.
        self.tenant_projects: defaultdict[str, list[Project]] = defaultdict(list)
        self.designs: dict[str, Design] = {}
        self.financings: dict[str, Financing] = {}
        self.agreements: dict[str, Agreement] = {}
        self.assets: dict[str, Asset] = {}
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, DownloadJob] = {}
        self.proposal_pdf_jobs: dict[str, ProposalPdfJob] = {}
        self.web_proposals: dict[str, str] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.tenant_webhooks: defaultdict[str, list[str]] = defaultdict(list)
        self._seq = 0

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def new_token(self, kind: str, env_segment: str) -> str:
        body = "".join(self.rng.choice(_KEY_ALPHABET) for _ in range(24))
        return f"{'sk' if kind == 'standard' else 'rk'}_{env_segment}_{body}"

    def add_project(self, project: Project) -> None:
        self.projects[project.id] = project
        bisect.insort(self.tenant_projects[project.tenant_id], project, key=lambda p: p.sort_key)

    def add_user(self, user: User) -> None:
        self.users[user.id] = user
        self.tenant_users[user.tenant_id].append(user.id)

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise not_found()
        return tenant


def owned(items: dict[str, T], item_id: str, tenant_id: str) -> T:
    """Another tenant's id is indistinguishable from a missing one: 404, never 403 (reference §4.1)."""
    item = items.get(item_id)
    if item is None or item.tenant_id != tenant_id:
        raise not_found()
    return item
