"""What every benchmark needs: the real stack on this machine, a load generator, a report.

Figures are printed as ratios against a ceiling measured in the same run on the same
machine (a trivial endpoint, a raw SQL statement), so they survive noisy machines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway import migrate
from gateway.embedded import EmbeddedServices
from gateway.runtime import Runtime
from gateway.settings import Settings, load_settings
from sandbox.server import SandboxServer, free_port

ROOT = Path(__file__).resolve().parent.parent
# The embedded servers' helpers turn on INFO logging; a line per HTTP request drowns the figures.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class BenchTenant:
    tenant_id: Any
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class BenchStack:
    """Embedded PostgreSQL + Valkey (or DATABASE_URL/REDIS_URL), migrations, the sandbox, a
    Runtime and a tenant; gateway and worker processes on request."""

    def __init__(self, **settings: Any) -> None:
        self._overrides = settings
        self._services = EmbeddedServices()
        self._procs: list[subprocess.Popen[bytes]] = []
        self.sandbox: SandboxServer | None = None

    async def __aenter__(self) -> BenchStack:
        database_url, redis_url = self._services.start(
            database_url=os.environ.get("DATABASE_URL", ""), redis_url=os.environ.get("REDIS_URL", "")
        )
        migrate.upgrade(database_url)
        self.sandbox = SandboxServer().start()
        self.gateway_port = free_port()
        self.settings: Settings = load_settings(
            {},
            **{
                "database_url": database_url,
                "redis_url": redis_url,
                "operator_key": "bench-operator-" + secrets.token_hex(8),
                "secret_key": "bench-secret",
                "sandbox_url": self.sandbox.url,
                "public_url": f"http://127.0.0.1:{self.gateway_port}",
                "log_level": "WARNING",
                # The egress guard lets partner calls reach the loopback sandboxes over http.
                "egress_allow": "127.0.0.1/32",
                "egress_allow_http": True,
                # Budgets no benchmark reaches: the limiter's Valkey round trip is still paid.
                "rate_limit_reads": 10**9,
                "rate_limit_writes": 10**9,
                "rate_limit_intake": 10**9,
                **self._overrides,
            },
        )
        self.runtime = await Runtime.start(self.settings)
        from gateway.tenants import service

        async with self.runtime.db.unit_of_work() as session:
            tenant = await service.create_tenant(session, name="Bench", slug="bench-" + secrets.token_hex(4))
            _, key = await service.create_api_key(session, tenant.id, name="bench")
        self.tenant = BenchTenant(tenant.id, key)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await self.runtime.close()
        if self.sandbox:
            self.sandbox.stop()
        self._services.stop()

    @property
    def services_dir(self) -> Path:
        return self._services.data_dir

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The gateway and worker processes started so far, in order."""
        return list(self._procs)

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "DATABASE_URL": s.database_url,
            "REDIS_URL": s.redis_url,
            "PONTE_OPERATOR_KEY": s.operator_key,
            "PONTE_SECRET_KEY": s.secret_key,
            "PONTE_SANDBOX_URL": s.sandbox_url,
            "PONTE_PUBLIC_URL": s.public_url,
            "PONTE_LOG_LEVEL": "WARNING",
            "PONTE_EGRESS_ALLOW": s.egress_allow,
            "PONTE_EGRESS_ALLOW_HTTP": "true" if s.egress_allow_http else "false",
            "PONTE_RATE_LIMIT_READS": str(s.rate_limit_reads),
            "PONTE_RATE_LIMIT_WRITES": str(s.rate_limit_writes),
            "PONTE_RATE_LIMIT_INTAKE": str(s.rate_limit_intake),
            **{f"PONTE_{k.upper()}": str(v) for k, v in self._overrides.items()},
        }

    def start_gateway(self, port: int | None = None, **env: str) -> str:
        """One gateway process, started as ``ponte api`` starts it, on the stack's port unless
        given one, with ``env`` over the stack's environment; its base URL."""
        port = port or self.gateway_port
        cmd = [sys.executable, "-m", "gateway.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
        return self._serve(cmd, f"http://127.0.0.1:{port}", "/health/live", env)

    def start_bare(self) -> str:
        """The HTTP ceiling: a bare Litestar app (``bench/bare_app.py``) on the same server with
        the same options as the gateway (``gateway.server``), on a free port; its base URL."""
        port = free_port()
        cmd = [sys.executable, "-m", "gateway.server", "bench.bare_app:create_app", str(port)]
        return self._serve(cmd, f"http://127.0.0.1:{port}", "/ping")

    def _serve(self, cmd: list[str], url: str, probe: str, env: dict[str, str] | None = None) -> str:
        self._procs.append(subprocess.Popen(cmd, env=self.env() | (env or {}), cwd=ROOT))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + probe, timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"{' '.join(cmd[2:4])} did not start")

    def start_workers(self, n: int = 1, **env: str) -> list[subprocess.Popen[bytes]]:
        procs = [
            subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], env=self.env() | env, cwd=ROOT)
            for _ in range(n)
        ]
        self._procs += procs
        return procs


def cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used so far, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of its children, live (PostgreSQL's backends) or ended and reaped."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
        todo += parents.get(current, [])
    return total


def postgres_pid(stack: BenchStack) -> int | None:
    """The embedded PostgreSQL's postmaster, None when DATABASE_URL points elsewhere."""
    pid_file = stack.services_dir / "postgres" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class LoadResult:
    count: int
    seconds: float
    latencies: list[float] = field(repr=False)
    statuses: Counter[int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<34} {self.rate:>9.0f} req/s  p50 {self.percentile(0.5):6.2f} ms  "
            f"p99 {self.percentile(0.99):6.2f} ms  statuses {dict(self.statuses)}"
        )


def http_request(
    method: str, path: str, *, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_webhook_request(
    host: str, endpoint_id: str, signer: Any, msg_id: str, event_type: str, data: dict[str, Any], now: Any
) -> bytes:
    """A partner's delivery, as bytes: Standard Webhooks envelope signed with ``signer``."""
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data}).encode()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body.decode()),
    }
    return http_request("POST", f"/v1/webhooks/{endpoint_id}", host=host, headers=headers, body=body)


async def http_load(
    url: str, requests: Sequence[bytes] | Callable[[int], bytes], *, count: int, concurrency: int
) -> LoadResult:
    """Send ``count`` pre-built HTTP/1.1 requests over ``concurrency`` keep-alive connections.

    A raw-socket client, so the measurement is the server's cost and not an HTTP library's.
    """
    parsed = httpx.URL(url)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    next_index = 0

    def build(i: int) -> bytes:
        return requests(i) if callable(requests) else requests[i % len(requests)]

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while next_index < count:
                i = next_index
                next_index += 1
                payload = build(i)
                started = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return LoadResult(count, time.perf_counter() - started, latencies, statuses)


def record_ratio(name: str, ours: float, ceiling: float, ratio: float, target: float | None, unit: str) -> None:
    """Append the ratio to ``$PONTE_BENCH_RESULTS`` (JSON lines), for ``python -m bench``'s table."""
    path = os.environ.get("PONTE_BENCH_RESULTS")
    if not path:
        return
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    bench = spec.name.removeprefix("bench.") if spec else Path(sys.argv[0]).stem
    row = {"benchmark": bench, "name": name, "figure": ours, "ceiling": ceiling, "unit": unit, "ratio": ratio}
    with open(path, "a") as out:
        out.write(json.dumps(row | {"target": target}) + "\n")


class Report:
    """Prints figures as they come, and ratios against the run's own ceiling."""

    def __init__(self, title: str) -> None:
        self.title = title
        print(f"\n=== {title} ===", flush=True)

    def figure(self, name: str, value: float, unit: str = "") -> None:
        print(f"{name:<40} {value:>12,.1f} {unit}", flush=True)

    def ratio(self, name: str, ours: float, ceiling: float, target: float | None = None, unit: str = "") -> float:
        ratio = ours / ceiling if ceiling else float("nan")
        self._ratio_line(name, ratio, target)
        record_ratio(name, ours, ceiling, ratio, target, unit)
        return ratio

    def paired_ratio(
        self, name: str, ours: Sequence[float], ceiling: Sequence[float], target: float | None = None, unit: str = ""
    ) -> float:
        """The median of per-round ratios, each round's figure against the ceiling measured
        next to it. The machine's speed drifts by a third within seconds; a pair shares its
        moment, so the median of the pairs is steadier than the ratio of the two medians. The
        table shows the two medians, and the pairs' spread is printed."""
        pairs = sorted(o / c for o, c in zip(ours, ceiling, strict=True) if c)
        ratio = median(pairs) if pairs else float("nan")
        spread = f"  ({len(pairs)} pairs, {pairs[0]:.2f}-{pairs[-1]:.2f})" if pairs else ""
        self._ratio_line(name, ratio, target, spread)
        record_ratio(name, median(ours), median(ceiling), ratio, target, unit)
        return ratio

    @staticmethod
    def _ratio_line(name: str, ratio: float, target: float | None, after: str = "") -> None:
        verdict = "" if target is None else ("  ok" if ratio >= target else f"  BELOW target {target}")
        print(f"{name:<40} {ratio:>12.3f} (ratio){verdict}{after}", flush=True)

    def line(self, text: str) -> None:
        print(text, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
