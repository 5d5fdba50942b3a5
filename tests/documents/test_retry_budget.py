"""In-place retries of portal calls: a few always, more only while the portal mostly answers
(``RetryingPortalClient``, gateway/documents/integration.py)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.documents import integration
from gateway.documents.integration import (
    ANSWERS_BANKED_MAX,
    ANSWERS_PER_EXTRA_TRY,
    IN_PLACE_MAX_TRIES,
    IN_PLACE_TRIES,
    RetryingPortalClient,
)
from gateway.partners.client_portal import ClientPortalClient
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.runtime import Runtime
from tests.documents.support import clear_faults, set_portal_faults


@pytest.fixture
def tries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every portal request the client sends (one per try), by path; waits between tries shortened."""
    monkeypatch.setattr(integration, "IN_PLACE_BASE_SECONDS", 0.001)
    monkeypatch.setattr(integration, "IN_PLACE_MAX_DELAY", 0.002)
    sent: list[str] = []
    call = ClientPortalClient._call

    async def counted(self: ClientPortalClient, method: str, path: str, **kwargs: Any) -> Any:
        sent.append(path)
        return await call(self, method, path, **kwargs)

    monkeypatch.setattr(ClientPortalClient, "_call", counted)
    return sent


def session(runtime: Runtime, sandbox_url: str) -> RetryingPortalClient:
    return RetryingPortalClient(f"{sandbox_url}/portal", "ptk_budget", http=runtime.http, max_in_flight=4)


async def test_a_portal_that_is_down_gets_the_base_tries_only(runtime, sandbox_faults, tries) -> None:
    portal = session(runtime, sandbox_faults)
    await set_portal_faults(sandbox_faults, error_rate=1.0)
    with pytest.raises(TransientPartnerError):
        await portal.check()
    assert len(tries) == IN_PLACE_TRIES
    with pytest.raises(TransientPartnerError):
        await portal.check()
    assert len(tries) == 2 * IN_PLACE_TRIES  # failures earn nothing


async def test_answered_calls_buy_extra_tries_one_token_each(runtime, sandbox_faults, tries) -> None:
    portal = session(runtime, sandbox_faults)
    for _ in range(2 * ANSWERS_PER_EXTRA_TRY):  # enough answers for two extra tries
        assert await portal.check() == "budget"
    assert portal.answers_banked == 2 * ANSWERS_PER_EXTRA_TRY
    tries.clear()
    await set_portal_faults(sandbox_faults, error_rate=1.0)
    with pytest.raises(TransientPartnerError):
        await portal.check()
    assert len(tries) == IN_PLACE_TRIES + 2
    assert portal.answers_banked == 0
    tries.clear()
    with pytest.raises(TransientPartnerError):
        await portal.check()
    assert len(tries) == IN_PLACE_TRIES  # spent: back to the base tries


async def test_extra_tries_stop_at_the_maximum(runtime, sandbox_faults, tries) -> None:
    portal = session(runtime, sandbox_faults)
    portal.answers_banked = ANSWERS_BANKED_MAX
    await set_portal_faults(sandbox_faults, error_rate=1.0)
    with pytest.raises(TransientPartnerError):
        await portal.check()
    assert len(tries) == IN_PLACE_MAX_TRIES
    assert portal.answers_banked == ANSWERS_BANKED_MAX - (IN_PLACE_MAX_TRIES - IN_PLACE_TRIES) * ANSWERS_PER_EXTRA_TRY


async def test_a_call_that_recovers_in_an_extra_try_succeeds(runtime, sandbox_faults, tries) -> None:
    """Seeded faults: some call fails four times in a row and is answered on a later try."""
    portal = session(runtime, sandbox_faults)
    for _ in range(ANSWERS_BANKED_MAX):
        await portal.check()
    await set_portal_faults(sandbox_faults, error_rate=0.5, seed=4)  # its 30 calls' longest run: 7 tries
    tries.clear()
    longest = 0
    for _ in range(30):
        before = len(tries)
        assert await portal.check() == "budget"  # none falls through to a task backoff
        longest = max(longest, len(tries) - before)
    await clear_faults(sandbox_faults)
    assert IN_PLACE_TRIES < longest <= IN_PLACE_MAX_TRIES


async def test_a_refusal_is_an_answer_and_is_not_retried(runtime, sandbox, tries) -> None:
    portal = session(runtime, sandbox.url)
    with pytest.raises(PermanentPartnerError) as refused:
        await portal.get_client("missing-budget")
    assert refused.value.code == "client_not_found"
    assert len(tries) == 1
    assert portal.answers_banked == 1
