"""Webhook ingest: signed deliveries at 64 connections against one gateway process.

Prints accepted events/s, p50/p99, the ratio to ``GET /ping`` of the same process in the
same run, then checks the inbox holds exactly the accepted events (zero lost, zero doubled).

Run: ``uv run python -m bench.webhook_ingest [--count N] [--concurrency C]``
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from standardwebhooks import Webhook

from bench.common import BenchStack, Report, http_load, http_request, signed_webhook_request
from gateway.webhooks import service


def signed_requests(host: str, endpoint_id: str, secret: str, count: int, prefix: str) -> list[bytes]:
    signer = Webhook(secret)
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        data = {
            "establishment_code": "1020304050",
            "remittance_id": f"{prefix}-{n}",
            "returned_at": now.isoformat(),
            "items": [{"sale_id": f"S{n}-{i}", "status": "matched"} for i in range(3)],
        }
        out.append(
            signed_webhook_request(host, endpoint_id, signer, f"msg_{prefix}_{n}", "remittance.returned", data, now)
        )
    return out


async def main(count: int, concurrency: int) -> None:
    async with BenchStack(api_key_cache_seconds=10) as stack:
        async with stack.runtime.db.unit_of_work() as session:
            endpoint, secret = await service.create_endpoint(
                session, stack.runtime.cipher, tenant_id=stack.tenant.tenant_id, source="boavista", description="bench"
            )
        url = stack.start_gateway()
        host = url.removeprefix("http://")
        ping = [http_request("GET", "/ping", host=host)]
        warmup = signed_requests(host, str(endpoint.id), secret, 300, "warm")
        deliveries = signed_requests(host, str(endpoint.id), secret, count, "run")
        await http_load(url, ping, count=500, concurrency=concurrency)
        await http_load(url, warmup, count=len(warmup), concurrency=concurrency)

        report = Report(f"Webhook ingest, 1 gateway process, {concurrency} connections, {count} signed deliveries")
        ceiling = await http_load(url, ping, count=count, concurrency=concurrency)
        ours = await http_load(url, deliveries, count=count, concurrency=concurrency)
        report.line(ceiling.line("GET /ping (ceiling)"))
        report.line(ours.line("POST /v1/webhooks/{id} (signed)"))
        accepted = ours.statuses.get(202, 0)
        report.figure("accepted events/s", accepted / ours.seconds, "events/s")
        report.ratio("ingest/ping throughput", ours.rate, ceiling.rate, target=0.5)

        # Every 202 must be in the inbox exactly once; nothing else may be.
        async with stack.runtime.db.engine.connect() as conn:
            stored = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT webhook_id) FROM webhook_events"
                        " WHERE webhook_id LIKE 'msg_run_%'"
                    )
                )
            ).one()
            tasks = (await conn.execute(text("SELECT count(*) FROM tasks WHERE kind = 'webhook.process'"))).scalar_one()
        lost, doubled = accepted - stored[1], stored[0] - stored[1]
        report.line(
            f"inbox: {stored[0]} stored for {accepted} accepted -> lost {lost}, duplicated {doubled}; "
            f"{tasks} processing tasks (one per intake batch and tenant)"
        )
        if lost or doubled or stored[0] != accepted:
            raise SystemExit("inbox does not match the accepted count")
        report.line("zero lost, zero duplicated")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency))
