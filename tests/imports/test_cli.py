"""``ponte imports``: launch through the REST API, then follow progress to the counters."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from gateway.cli import main
from tests.imports.conftest import days_ago


async def test_launch_then_follow_prints_the_counters(tenants, worker, connect, api_over_asgi) -> None:
    t = await tenants.create()
    conn = await connect(t, "allianz")
    runner = CliRunner()

    def ponte(*args: str):
        return runner.invoke(main, ["imports", "--key", t.key, *args])

    listed = await asyncio.to_thread(ponte, "connections")
    assert conn["id"] in listed.output and "allianz" in listed.output
    args = ("launch", conn["id"], "--from", days_ago(40), "--to", days_ago(35), "--no-follow")
    launched = await asyncio.to_thread(ponte, *args)
    assert launched.exit_code == 0, launched.output
    assert "chained 2 task(s) up to today" in launched.output
    task_id = launched.output.split()[1]
    await worker()
    followed = await asyncio.to_thread(ponte, "follow", task_id, "--interval", "0.05")
    assert followed.exit_code == 0, followed.output
    assert f"{task_id} succeeded" in followed.output and "policies +" in followed.output
    bad = await asyncio.to_thread(ponte, "launch", conn["id"], "--from", days_ago(1), "--to", days_ago(-3))
    assert bad.exit_code == 1 and "/period/to" in bad.output
