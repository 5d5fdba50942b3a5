"""``ponte events tail``: the events Ponte emitted for the tenant, and how their deliveries went.

It reads ``GET /v1/event-messages`` with the tenant key, like any other client: first the
latest few, then, until Ctrl-C, each new event as it is emitted and each event again whenever
the status of one of its deliveries changes (pending, sending, succeeded, failed).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import click

from gateway.clitools import Api, api_options, echo_json, open_api

FINAL = {"succeeded", "failed"}


def describe(event: dict[str, Any]) -> str:
    deliveries = event["deliveries"]
    counts = Counter(d["status"] for d in deliveries)
    outcome = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "no endpoint subscribed"
    return f"{event['created_at'][:19]}  {event['type']:<36} {event['id']}  {outcome}"


def _settled(event: dict[str, Any]) -> bool:
    return all(d["status"] in FINAL for d in event["deliveries"])


class Tail:
    """What has been shown, so only news is printed."""

    def __init__(self, api: Api, *, event_type: str | None, as_json: bool) -> None:
        self.api, self.event_type, self.as_json = api, event_type, as_json
        self.shown: dict[str, str] = {}  # event id -> the line printed last
        self.open: dict[str, str] = {}  # event id -> created_at, while a delivery is not final
        self.since: str | None = None

    def params(self, **extra: Any) -> dict[str, Any]:
        return {**({"type": self.event_type} if self.event_type else {}), **extra}

    def show(self, event: dict[str, Any]) -> None:
        line = describe(event)
        if self.shown.get(event["id"]) == line:
            return
        self.shown[event["id"]] = line
        if self.as_json:
            echo_json(event)
        else:
            click.echo(line)

    def note(self, event: dict[str, Any]) -> None:
        self.show(event)
        self.since = max(self.since or event["created_at"], event["created_at"])
        if _settled(event):
            self.open.pop(event["id"], None)
        else:
            self.open[event["id"]] = event["created_at"]

    def start(self, last: int) -> None:
        page = self.api.call("GET", "/v1/event-messages", params=self.params(limit=last))
        for event in reversed(page["items"]):
            self.note(event)

    def poll(self) -> None:
        params = self.params(order="oldest", limit=100, **({"created_from": self.since} if self.since else {}))
        for event in self.api.call("GET", "/v1/event-messages", params=params)["items"]:
            self.note(event)
        for event_id in list(self.open):
            self.note(self.api.call("GET", f"/v1/event-messages/{event_id}"))


@click.group(help="Outbound events: what Ponte emitted to the tenant's systems, and how delivery went.")
def events() -> None:
    pass


@events.command(help="Print the latest events, then new ones and delivery changes until Ctrl-C.")
@api_options
@click.option("--type", "event_type", help="Only this event type, e.g. import.failed")
@click.option("--last", default=10, show_default=True, type=click.IntRange(0, 100), help="Events shown first")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between checks")
@click.option("--once", is_flag=True, help="Print the latest events and stop")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts")
@click.pass_context
def tail(
    ctx: click.Context,
    url: str,
    key: str,
    event_type: str | None,
    last: int,
    interval: float,
    once: bool,
    as_json: bool,
) -> None:
    follower = Tail(open_api(ctx, url, key), event_type=event_type, as_json=as_json)
    follower.start(last)
    try:
        while not once:
            time.sleep(interval)
            follower.poll()
    except KeyboardInterrupt:  # Ctrl-C is how a tail ends
        pass
