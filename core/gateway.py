"""The gateway's parts for one process, assembled once per cold start by a handler and passed to
every route: immutable config, the model table, the adapters and the stores."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.catalog import Catalog
from core.config import Config, GatewaySettings
from core.keys import Authenticator, KeyStore
from core.storage.dynamo import DynamoDB
from core.storage.responses import ResponseStore
from core.types import ChatAdapter


@dataclass
class Gateway:
    config: Config
    catalog: Catalog
    adapters: Mapping[str, ChatAdapter]
    auth: Authenticator
    keys: KeyStore | None = None
    db: DynamoDB | None = None
    responses: ResponseStore | None = None
    started_at: int = field(default=0)

    @property
    def settings(self) -> GatewaySettings:
        return self.config.gateway

    async def aclose(self) -> None:
        await asyncio.gather(*(adapter.aclose() for adapter in self.adapters.values()))
        if self.db is not None:
            await self.db.aclose()
