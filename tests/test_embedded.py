"""The embedded PostgreSQL behind `ponte dev`, tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gateway.embedded import EmbeddedServices

STARTER = """
import sys, time
from pathlib import Path
from gateway.embedded import EmbeddedServices
print(EmbeddedServices(Path(sys.argv[1]), persist=True).start_postgres(), flush=True)
time.sleep(120)
"""


def test_a_dev_run_killed_outright_does_not_keep_postgres_alive_after_the_next_one(tmp_path: Path) -> None:
    # A `ponte dev` killed with SIGKILL (or a closed terminal) never unregisters itself...
    first = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", STARTER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert first.stdout is not None and first.stdout.readline().startswith("postgresql://")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    postmaster = tmp_path / "postgres" / "postmaster.pid"
    assert postmaster.exists()  # the server outlived it, as it should while others may use it

    try:
        # ...and the next run, when it ends, still stops the server it was the last user of.
        services = EmbeddedServices(tmp_path, persist=True)
        services.start_postgres()
        services.stop()
        assert not postmaster.exists()
    finally:
        if postmaster.exists():  # do not leave a server behind when the check fails
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGINT)
