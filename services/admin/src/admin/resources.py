"""What a request handler needs, made once in the app's lifespan and reached through `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from fastapi import Request
from faststream.kafka import KafkaBroker

from pipeline_common.aurora import AuroraClient
from pipeline_common.secrets import TokenCipher, WebhookSigner

if TYPE_CHECKING:
    from admin.settings import AdminSettings


@dataclass
class Resources:
    settings: AdminSettings
    pool: asyncpg.Pool[Any]
    aurora: AuroraClient
    broker: KafkaBroker
    cipher: TokenCipher
    signer: WebhookSigner


def resources(request: Request) -> Resources:
    res: Resources = request.app.state.resources
    return res
