"""What a running process holds: settings, database, queue, HTTP client for partners.

The gateway keeps one on ``app.state``; each worker keeps one in arq's ``ctx``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from gateway.crypto import CredentialCipher
from gateway.db.session import Database
from gateway.egress import EgressPolicy
from gateway.queue import Queue
from gateway.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    queue: Queue
    cipher: CredentialCipher
    egress: EgressPolicy
    # Shared pool for partner calls, behind the egress guard like every outbound request.
    http: httpx.AsyncClient

    @classmethod
    async def start(cls, settings: Settings, *, name: str = "ponte") -> Runtime:
        """``name`` says which kind of process this is (``ponte api``, ``ponte worker``) to PostgreSQL."""
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (ponte dev starts embedded ones)")
        egress = EgressPolicy.from_settings(settings)
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.db_pool_size, name=name),
            queue=await Queue.connect(settings.redis_url, timeout=settings.queue_timeout_seconds),
            cipher=CredentialCipher(settings.secret_key),
            egress=egress,
            http=egress.client(),
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.queue.close()
        await self.db.dispose()
