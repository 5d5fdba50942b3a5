"""A real gateway and worker as processes, and headless Chromium from Debian driving them.

Chromium is the distribution's (``/usr/bin/chromium``; ``.ci/run`` installs it), driven by
Playwright through ``executable_path``: Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.settings import Settings

CHROMIUM = os.environ.get("PONTE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
# Failing tests leave a screenshot here (CI keeps the folder); never committed.
FAILURES_DIR = ROOT / "test-artifacts" / "console"
# Set to docs/console to refresh the README's screenshots from a real run.
SCREENSHOTS_DIR = os.environ.get("PONTE_CONSOLE_SCREENSHOTS")


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveStack:
    """``uvicorn gateway.app:create_app`` and ``ponte worker``, as an operator runs them."""

    def __init__(self, settings: Settings, sandbox_url: str, operator_key: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "PONTE_SECRET_KEY": settings.secret_key,
            "PONTE_OPERATOR_KEY": operator_key,
            "PONTE_PUBLIC_URL": self.url,
            "PONTE_SANDBOX_URL": sandbox_url,
            # The egress guard lets the gateway and worker reach the loopback sandbox, as in tests.
            "PONTE_EGRESS_ALLOW": settings.egress_allow,
            "PONTE_EGRESS_ALLOW_HTTP": "true" if settings.egress_allow_http else "false",
            "PONTE_API_KEY_CACHE_SECONDS": "0",
            "PONTE_TASK_LEASE_SECONDS": "5",
            "PONTE_TASK_RETRY_BASE_SECONDS": "0.1",
            "PONTE_SWEEP_GRACE_SECONDS": "1",
            "PONTE_SWEEP_INTERVAL_SECONDS": "1",
            "PONTE_LOG_LEVEL": "WARNING",
            "PONTE_LOG_FORMAT": "console",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> LiveStack:
        uvicorn = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
        self.processes.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*uvicorn, "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"], env=self.env, cwd=ROOT
            )
        )
        self.processes.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], env=self.env, cwd=ROOT))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.processes[0].poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
