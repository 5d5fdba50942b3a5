from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from gateway import migrate
from gateway.settings import Settings
from sandbox.server import SandboxServer
from tests.faults.stack import FaultStack


def stack_settings(stack: FaultStack, settings: Settings, sandbox: SandboxServer) -> Settings:
    return msgspec.structs.replace(
        settings,
        database_url=stack.postgres.url,
        redis_url=stack.valkey.url,
        sandbox_url=sandbox.url,
        sweep_interval_seconds=1,
        log_level="WARNING",
    )


@pytest.fixture
def fault_stack() -> Iterator[FaultStack]:
    """Servers of its own, which the test may restart; see tests/faults/stack.py."""
    stack = FaultStack()
    try:
        migrate.upgrade(stack.postgres.url)
        yield stack
    finally:
        stack.close()
