"""The first hour with Ponte, as a newcomer lives it: `ponte dev` in one terminal, and in a
second one the CLI with no setting, `ponte demo`, and every README walkthrough pasted as it is.

One real `ponte dev` (embedded PostgreSQL and Valkey, sandbox, worker, gateway) serves the
module. Commands run from a folder of their own, as a fresh shell would, finding the stack
through the `.ponte/env` it wrote; `uv run` is pointed at this project with UV_PROJECT.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.server import free_port

# Each test drives a real `ponte dev` through several CLI runs: longer than the suite's default.
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = re.compile(r"^```sh walkthrough\n(.*?)^```$", re.S | re.M)
# What the user's own shell does not have: the variables of a stack they did not start.
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith("PONTE_") and k not in ("DATABASE_URL", "REDIS_URL")
}


class DevStack:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port, self.sandbox_port = free_port(), free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> DevStack:
        args = ["dev", "--port", str(self.port), "--sandbox-port", str(self.sandbox_port)]
        self.proc = subprocess.Popen(  # noqa: S603 - as the README says to start it
            ["uv", "run", "ponte", *args],  # noqa: S607
            cwd=self.home,
            env={**CLEAN_ENV, "UV_PROJECT": str(ROOT), "UV_FROZEN": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        while "Ctrl-C stops everything" not in self.output:
            line = self.proc.stdout.readline()
            assert line or self.proc.poll() is None, self.output
            self.output += line
            assert time.monotonic() < deadline, self.output
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        return self

    def run(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**CLEAN_ENV, "UV_PROJECT": str(ROOT), "UV_FROZEN": "1"}
        return subprocess.run(  # noqa: S603
            ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C as a terminal sends it: to the whole foreground process group (`uv` leads it)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out + err


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = DevStack(tmp_path_factory.mktemp("newcomer")).start()
    try:
        yield stack
    finally:
        if stack.proc and stack.proc.poll() is None:
            os.killpg(stack.proc.pid, signal.SIGKILL)
            stack.proc.wait(timeout=30)


def test_dev_publishes_how_to_reach_it(dev_stack: DevStack) -> None:
    env_file = dev_stack.home / ".ponte" / "env"
    text = env_file.read_text()
    for name in ("DATABASE_URL", "REDIS_URL", "PONTE_URL", "PONTE_KEY", "PONTE_OPERATOR_KEY"):
        assert f"export {name}=" in text
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert ". .ponte/env" in dev_stack.output


def test_the_cli_needs_no_setting_next_to_a_running_dev(dev_stack: DevStack) -> None:
    commands = ("tenants list", "keys list", "keys list demo", "tasks list --json")
    done = dev_stack.run(" && ".join(f"uv run ponte {c}" for c in commands))
    assert done.returncode == 0, done.stderr
    assert " demo " in done.stdout and "ponte dev" in done.stdout
    assert "Traceback" not in done.stderr


def test_readme_walkthroughs_run_as_written_twice(dev_stack: DevStack) -> None:
    blocks = WALKTHROUGH.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 4
    for round_ in (1, 2):  # again: every step is get-or-create
        for block in blocks:
            done = dev_stack.run(block)
            assert done.returncode == 0, f"round {round_}:\n{block}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            assert "Traceback" not in done.stderr


def test_demo_runs_the_four_capabilities_and_says_where_to_look(dev_stack: DevStack) -> None:
    done = dev_stack.run("uv run ponte demo")
    assert done.returncode == 0, done.stderr
    for expected in ("Allianz import", "Portal sync", "Document delivery", "Reconciliation of", "/console", "/metrics"):
        assert expected in done.stdout
    assert "delivered" in done.stdout and "reconciled" in done.stdout


def test_a_busy_port_fails_at_once_in_one_line(dev_stack: DevStack, tmp_path: Path) -> None:
    started = time.monotonic()
    taken = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gateway.cli", "dev", "--port", str(dev_stack.port), "--sandbox-port", str(free_port())],
        cwd=tmp_path,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert taken.returncode == 1
    assert taken.stdout == ""  # nothing printed as if it had started
    assert taken.stderr.strip() == f"Error: port {dev_stack.port} is already in use: choose another with --port N"
    assert not (tmp_path / ".ponte").exists()  # and nothing was started
    assert time.monotonic() - started < 30


def test_ctrl_c_stops_everything_in_one_line(dev_stack: DevStack) -> None:
    code, output = dev_stack.interrupt()
    assert code == 0
    assert "Ponte stopped." in output
    for noise in ("Traceback", "KeyboardInterrupt", "CancelledError"):
        assert noise not in output
    assert not (dev_stack.home / ".ponte" / "env").exists()  # nothing points at a stack that is gone
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", dev_stack.port))  # the port is free again
