from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from gateway.idempotency.models import IdempotencyRecord


async def test_same_key_same_body_replays_original_response(client, operator_headers) -> None:
    headers = operator_headers | {"Idempotency-Key": "k-1"}
    body = {"name": "Mediadora", "slug": "mediadora"}
    first = await client.post("/v1/tenants", json=body, headers=headers)
    second = await client.post("/v1/tenants", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    listing = await client.get("/v1/tenants", headers=operator_headers)
    assert len(listing.json()["items"]) == 1  # no second tenant


async def test_same_key_other_body_is_422(client, operator_headers) -> None:
    headers = operator_headers | {"Idempotency-Key": "k-2"}
    assert (await client.post("/v1/tenants", json={"name": "A", "slug": "aa"}, headers=headers)).status_code == 201
    r = await client.post("/v1/tenants", json={"name": "B", "slug": "bb"}, headers=headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["pointer"] == "/Idempotency-Key"
    assert len((await client.get("/v1/tenants", headers=operator_headers)).json()["items"]) == 1


async def test_original_still_running_is_409(client, runtime, operator_headers) -> None:
    async with runtime.db.unit_of_work() as session:
        await session.execute(insert(IdempotencyRecord).values(scope="operator", key="k-3", fingerprint="x" * 64))
    r = await client.post(
        "/v1/tenants", json={"name": "A", "slug": "aa"}, headers=operator_headers | {"Idempotency-Key": "k-3"}
    )
    assert r.status_code in (409, 422)
    # With the same body as the in-flight one it is a 409:
    import hashlib

    raw = b'{"name":"A","slug":"aa"}'
    fp = hashlib.sha256(b"POST/v1/tenants\0" + raw).hexdigest()
    async with runtime.db.unit_of_work() as session:
        await session.execute(insert(IdempotencyRecord).values(scope="operator", key="k-4", fingerprint=fp))
    r = await client.post(
        "/v1/tenants",
        content=raw,
        headers=operator_headers | {"Idempotency-Key": "k-4", "content-type": "application/json"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_keys_are_scoped_per_caller(client, tenants) -> None:
    a, b = await tenants.create(), await tenants.create()
    from tests.tasks.test_tasks import new_task

    _ = new_task
    # The same key used by two tenants on their own resources does not collide.
    r1 = await client.post(
        "/v1/tasks/00000000-0000-0000-0000-000000000000/cancel", headers=a.headers | {"Idempotency-Key": "shared"}
    )
    r2 = await client.post(
        "/v1/tasks/00000000-0000-0000-0000-000000000000/cancel", headers=b.headers | {"Idempotency-Key": "shared"}
    )
    assert r1.status_code == r2.status_code == 404
    assert "idempotent-replayed" not in r2.headers


async def test_error_responses_are_replayed_but_5xx_are_not_stored(client, runtime, operator_headers) -> None:
    from sqlalchemy import select

    headers = operator_headers | {"Idempotency-Key": "k-5"}
    bad = {"name": "", "slug": "x"}
    assert (await client.post("/v1/tenants", json=bad, headers=headers)).status_code == 422
    again = await client.post("/v1/tenants", json=bad, headers=headers)
    assert again.status_code == 422 and again.headers["idempotent-replayed"] == "true"
    async with runtime.db.sessionmaker() as session:
        stored = (await session.scalars(select(IdempotencyRecord))).all()
    assert [r.status_code for r in stored] == [422]
