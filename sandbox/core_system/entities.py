"""Every entity the core system lists, by the name used in ``GET /core/{entity}``."""

from __future__ import annotations

from sandbox.core_system import beneficiaries, contracts, providers
from sandbox.core_system.model import EntitySpec

ENTITIES: dict[str, EntitySpec] = {s.name: s for s in (*beneficiaries.SPECS, *providers.SPECS, *contracts.SPECS)}
