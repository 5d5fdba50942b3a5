"""How every gateway process is served: ``ponte api``, ``ponte dev``, docker-compose and the benchmarks.

uvicorn on uvloop with the httptools parser, named explicitly: left on "auto", uvicorn falls
back silently to asyncio and h11, which halves what one process can answer (a bare Litestar
app measured 5.2k req/s on h11/asyncio and 8.7k on httptools/uvloop on the 2-core dev machine).
"""

from __future__ import annotations

from typing import Any

APP = "gateway.app:create_app"


def server_options() -> dict[str, Any]:
    """The options every gateway process runs with (the benchmarks serve their bare app with them too)."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # the gateway logs one structured line per request itself
        "server_header": False,
    }


def serve(app: str = APP, *, host: str, port: int, workers: int = 1, log_level: str | None = None) -> None:
    """Run ``app`` (an import string of an app factory) until interrupted. uvicorn's own lines
    follow ``PONTE_LOG_LEVEL`` unless ``log_level`` says otherwise."""
    import uvicorn

    from gateway.settings import get_settings

    level = (log_level or get_settings().log_level).lower()
    uvicorn.run(app, factory=True, host=host, port=port, workers=workers, log_level=level, **server_options())


if __name__ == "__main__":  # the benchmarks: python -m gateway.server APP PORT
    import sys

    serve(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
