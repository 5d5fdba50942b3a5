"""The `ponte` command as an operator uses it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from gateway.cli import main
from sandbox.server import free_port
from tests.console.helpers import csrf_token


def cli_env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}


def test_tenants_and_keys_from_the_command_line(runtime, settings, monkeypatch, client) -> None:
    from gateway.settings import get_settings

    for k, v in cli_env(settings).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        created = runner.invoke(main, ["tenants", "create", "Farmácia Central", "--slug", "farmacia", "--json"])
        assert created.exit_code == 0, created.output
        tenant = json.loads(created.output)
        assert (tenant["slug"], tenant["locale"], tenant["timezone"]) == ("farmacia", "pt_BR", "America/Sao_Paulo")
        polish = ["tenants", "create", "Biuro Rachunkowe", "--slug", "biuro", "--locale", "pl_PL"]
        created = runner.invoke(main, [*polish, "--timezone", "Europe/Warsaw", "--json"])
        assert (json.loads(created.output)["locale"], json.loads(created.output)["timezone"]) == (
            "pl_PL",
            "Europe/Warsaw",
        )
        bad_zone = runner.invoke(main, ["tenants", "create", "X", "--slug", "x-zone", "--timezone", "Mars/Olympus"])
        assert bad_zone.exit_code == 1 and "Traceback" not in bad_zone.output, bad_zone.output
        listed = runner.invoke(main, ["tenants", "list"])
        assert "farmacia" in listed.output
        assert [t["slug"] for t in json.loads(runner.invoke(main, ["tenants", "list", "--json"]).output)] == [
            "farmacia",
            "biuro",
        ]
        key = runner.invoke(main, ["keys", "create", "farmacia", "--name", "erp", "--json"])
        assert key.exit_code == 0, key.output
        issued = json.loads(key.output)
        assert issued["key"].startswith("ponte_")
        by_id = json.loads(runner.invoke(main, ["keys", "create", tenant["id"], "--json"]).output)
        human = runner.invoke(main, ["keys", "list", "farmacia"])
        assert human.exit_code == 0 and issued["id"] in human.output and "erp" in human.output
        assert issued["key"] not in human.output  # ids and prefixes, never the key
        keys = json.loads(runner.invoke(main, ["keys", "list", "farmacia", "--json"]).output)
        assert {k["id"] for k in keys} == {issued["id"], by_id["id"]}
        missing = runner.invoke(main, ["keys", "create", "nobody"])
        assert missing.exit_code == 1 and "nobody" in missing.output and "Traceback" not in missing.output
        revoked = runner.invoke(main, ["keys", "revoke", issued["id"]])
        assert revoked.exit_code == 0, revoked.output
        assert [k["id"] for k in json.loads(runner.invoke(main, ["keys", "list", "farmacia", "--json"]).output)] == [
            by_id["id"]
        ]
        assert len(json.loads(runner.invoke(main, ["keys", "list", "farmacia", "--all", "--json"]).output)) == 2
        everyone = json.loads(runner.invoke(main, ["keys", "list", "--json"]).output)
        assert {(k["tenant"], k["id"]) for k in everyone} >= {("farmacia", by_id["id"])}
        bad_id = runner.invoke(main, ["keys", "revoke", "not-a-uuid"])
        assert bad_id.exit_code == 2 and "not a valid UUID" in bad_id.output and "Traceback" not in bad_id.output
    finally:
        get_settings.cache_clear()


def test_commands_find_a_dev_stack_through_its_env_file(runtime, settings, monkeypatch, tmp_path: Path) -> None:
    from gateway.devenv import read_env, write_env
    from gateway.settings import get_settings

    env_file = write_env(tmp_path, {**cli_env(settings), "PONTE_URL": "http://127.0.0.1:1", "ODD": "it's $x"})
    assert env_file.stat().st_mode & 0o777 == 0o600  # it holds keys
    assert read_env(env_file)["ODD"] == "it's $x"
    sourced = subprocess.run(  # noqa: S603 - the file is what a shell sources
        ["bash", "-c", f'. {env_file} && printf %s "$ODD"'],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout == "it's $x"
    for name in ("DATABASE_URL", "REDIS_URL", "PONTE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PONTE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    try:
        created = runner.invoke(main, ["tenants", "create", "Corretora", "--slug", "corretora"])
        assert created.exit_code == 0, created.output  # DATABASE_URL came from the file
        # What the environment sets wins over the file; an unreachable gateway is one line.
        monkeypatch.setenv("PONTE_URL", "http://127.0.0.1:2")
        unreachable = runner.invoke(main, ["tasks", "list", "--key", "k"])
        assert unreachable.exit_code == 1
        assert unreachable.output.strip().splitlines() == [
            "Error: cannot reach Ponte at http://127.0.0.1:2/v1/tasks?limit=20: is `ponte dev` running? "
            "(or set DATABASE_URL / PONTE_URL)"
        ]
    finally:
        get_settings.cache_clear()


def test_openapi_writes_the_spec_and_check_detects_drift(tmp_path: Path) -> None:
    from gateway.openapi import render_spec

    target = tmp_path / "openapi.json"
    assert CliRunner().invoke(main, ["openapi", "--output", str(target)]).exit_code == 0
    assert target.read_text() == render_spec()
    assert CliRunner().invoke(main, ["openapi", "--output", str(target), "--check"]).exit_code == 0
    target.write_text("{}")
    assert CliRunner().invoke(main, ["openapi", "--output", str(target), "--check"]).exit_code == 1


def test_ponte_dev_brings_up_gateway_docs_worker_and_sandbox_then_stops(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "dev",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--data-dir",
            str(tmp_path / ".ponte"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while "Ctrl-C stops everything" not in output:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, output
            output += line
            assert time.monotonic() < deadline, output
        key = re.search(r"Demo key\s+(\S+)", output).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.get(f"{base}/docs").status_code == 200
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.json()["slug"] == "demo"
        assert httpx.get(f"http://127.0.0.1:{sandbox_port}/").status_code == 200
        # The console address it prints takes the demo key it prints.
        assert re.search(r"Console\s+(\S+)", output).group(1) == f"{base}/console"  # type: ignore[union-attr]
        with httpx.Client(base_url=base) as browser:
            token = csrf_token(browser.get("/console/sign-in").text)
            r = browser.post("/console/sign-in", data={"key": key, "_csrf_token": token})
            assert (r.status_code, r.headers["location"]) == (303, "/console/")
        # The egress guard lets the gateway reach exactly the sandbox: not itself, not another port.
        auth = {"Authorization": f"Bearer {key}"}
        own = httpx.put(f"{base}/v1/portal/connection", headers=auth, json={"token": "sandbox-d", "base_url": base})
        assert (own.status_code, own.json()["errors"][0]["pointer"]) == (422, "/base_url")
        assert httpx.put(f"{base}/v1/portal/connection", headers=auth, json={"token": "sandbox-d"}).status_code == 200
        assert httpx.post(f"{base}/v1/portal/connection/check", headers=auth, timeout=30).status_code == 200
        assert (tmp_path / ".ponte" / "postgres").is_dir()  # data persists between runs
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
