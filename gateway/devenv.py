"""``.ponte/env``: how every other ``ponte`` command finds a running ``ponte dev``.

``ponte dev`` writes the addresses of its embedded PostgreSQL, Valkey, gateway and sandbox,
and the demo and operator keys, as ``export NAME='value'`` lines: a shell sources the file
as it is (``. .ponte/env``), and every ``ponte`` command but ``dev`` reads it for the
variables that are not already set, so the environment always wins. The file holds keys,
so it is readable by its owner only.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

FILE_NAME = "env"


def env_path(data_dir: Path | str | None = None) -> Path:
    return Path(data_dir or os.environ.get("PONTE_DATA_DIR") or ".ponte") / FILE_NAME


def write_env(data_dir: Path, values: dict[str, str]) -> Path:
    path = env_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    # Created private before anything is written into it.
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            name, value = words[0].split("=", 1)
            values[name] = value
    return values


def load_env(data_dir: Path | str | None = None) -> dict[str, str]:
    """Set the variables of ``.ponte/env`` that the environment does not set; returns those."""
    path = env_path(data_dir)
    if not path.is_file():
        return {}
    loaded = {name: value for name, value in read_env(path).items() if name not in os.environ}
    os.environ.update(loaded)
    return loaded
