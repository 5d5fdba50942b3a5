"""HTTP load for the benchmarks, and their ceiling: a bare Litestar app on the same server.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``): a C load generator
that is not the bottleneck. Without it, the Python raw-socket generator in ``bench.common``
stands in, and the figures say so. Both count statuses and latency percentiles the same way.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from bench.common import LoadResult, http_load, http_request

WRK = shutil.which("wrk")
WRK_THREADS = 2  # the machine's cores; the Python generator has no threads
SCRIPT = Path(__file__).with_name("wrk_report.lua")
TOOL = "wrk" if WRK else "python (install wrk for figures the load generator does not limit)"


@dataclass
class HttpResult:
    """What one load run measured: answers per second, latency, statuses."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int]
    socket_errors: int = 0
    accepted_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def rate_of(self, status: int) -> float:
        return self.statuses.get(status, 0) / self.seconds

    def line(self, name: str) -> str:
        errors = f"  socket errors {self.socket_errors}" if self.socket_errors else ""
        return (
            f"{name:<40} {self.rate:>9.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"statuses {dict(sorted(self.statuses.items()))}{errors}"
        )

    @classmethod
    def from_python(cls, result: LoadResult) -> HttpResult:
        return cls(result.count, result.seconds, result.percentile(0.5), result.percentile(0.99), result.statuses)


@dataclass
class SignedDelivery:
    """One partner delivery, signed with the Standard Webhooks scheme, ready to send."""

    path: str
    webhook_id: str
    timestamp: str
    signature: str
    body: str

    def wrk_line(self) -> str:
        return "\t".join((self.path, self.webhook_id, self.timestamp, self.signature, self.body))

    def raw(self, host: str) -> bytes:
        headers = {
            "Content-Type": "application/json",
            "webhook-id": self.webhook_id,
            "webhook-timestamp": self.timestamp,
            "webhook-signature": self.signature,
        }
        return http_request("POST", self.path, host=host, headers=headers, body=self.body.encode())


def sign_deliveries(
    endpoint_id: Any, secret: str, event_type: str, datas: Sequence[dict[str, Any]], prefix: str
) -> list[SignedDelivery]:
    """Deliveries of ``event_type`` with the given ``data``, ids ``msg_<prefix>_<n>``."""
    signer = Webhook(secret)
    now = datetime.now(UTC)
    out = []
    for n, data in enumerate(datas):
        body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data}, separators=(",", ":"))
        msg_id = f"msg_{prefix}_{n}"
        out.append(
            SignedDelivery(
                f"/v1/webhooks/{endpoint_id}", msg_id, str(int(now.timestamp())), signer.sign(msg_id, now, body), body
            )
        )
    return out


def wait_until_serving(url: str, path: str = "/ping", timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def _run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
    deliveries: Sequence[SignedDelivery] = (),
) -> HttpResult:
    assert WRK is not None
    with tempfile.TemporaryDirectory(prefix="ponte-wrk-") as tmp:
        requests_file, ids_prefix = "-", "-"
        if deliveries:
            requests_file = str(Path(tmp) / "requests.tsv")
            Path(requests_file).write_text("".join(d.wrk_line() + "\n" for d in deliveries))
            ids_prefix = str(Path(tmp) / "accepted")
        cmd = [WRK, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        cmd += ["-s", str(SCRIPT)]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        cmd += [url, "--", str(WRK_THREADS), requests_file, ids_prefix]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        data = json.loads(out.split("WRK_JSON ", 1)[1].splitlines()[0])
        ids: list[str] = []
        for path in Path(tmp).glob("accepted.*"):
            ids += path.read_text().split()
    errors = data["errors"]
    return HttpResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses=Counter({int(k): v for k, v in data["statuses"].items()}),
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        accepted_ids=ids,
    )


async def load_get(
    base_url: str, path: str, *, seconds: float, connections: int, headers: dict[str, str] | None = None
) -> HttpResult:
    """``GET path`` over ``connections`` keep-alive connections for about ``seconds``."""
    if WRK:
        return await asyncio.to_thread(
            _run_wrk, base_url + path, seconds=seconds, connections=connections, headers=headers
        )
    host = base_url.removeprefix("http://")
    request = http_request("GET", path, host=host, headers=headers)
    probe = await http_load(base_url, [request], count=connections * 20, concurrency=connections)
    count = max(connections * 20, int(probe.rate * seconds))
    return HttpResult.from_python(await http_load(base_url, [request], count=count, concurrency=connections))


async def load_deliveries(
    base_url: str, deliveries: Sequence[SignedDelivery], *, seconds: float, connections: int
) -> HttpResult:
    """Post signed deliveries, each once, for about ``seconds`` (with wrk) or all of them (without).

    With wrk, ``accepted_ids`` lists the event id of every 202 answer."""
    if WRK:
        return await asyncio.to_thread(
            _run_wrk, base_url + "/ping", seconds=seconds, connections=connections, deliveries=deliveries
        )
    host = base_url.removeprefix("http://")
    raw = [d.raw(host) for d in deliveries]
    return HttpResult.from_python(await http_load(base_url, raw, count=len(raw), concurrency=connections))


def deliveries_for(ceiling_rate: float, seconds: float) -> int:
    """How many distinct deliveries a run needs: wrk sends for a fixed time, and the gateway
    cannot take events faster than the bare app answers pings."""
    return int(ceiling_rate * seconds * 1.1) + 1000 if WRK else int(ceiling_rate * seconds * 0.5) + 500


def new_prefix() -> str:
    return uuid.uuid4().hex[:8]
