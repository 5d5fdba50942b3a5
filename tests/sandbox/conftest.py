from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.server import SandboxServer


@pytest.fixture(autouse=True)
def _clear_faults(sandbox: SandboxServer) -> Iterator[None]:
    yield
    httpx.delete(f"{sandbox.url}/_faults/")
