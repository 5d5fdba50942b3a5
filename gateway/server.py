"""How every gateway process is served: ``ponte api``, ``ponte dev``, docker-compose and the benchmarks.

uvicorn on uvloop with the httptools parser, named explicitly: left on "auto", uvicorn falls
back silently to asyncio and h11, which halves what one process can answer (a bare Litestar
app measured 5.2k req/s on h11/asyncio and 8.7k on httptools/uvloop on the 2-core dev machine).
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any

APP = "gateway.app:create_app"

# mallopt(3) parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MB = 1024 * 1024


def server_options() -> dict[str, Any]:
    """The options every gateway process runs with (the benchmarks serve their bare app with them too)."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,  # the gateway logs one structured line per request itself
        "server_header": False,
    }


YOUNG_COLLECTION_EVERY = 10_000  # new container objects per youngest-generation pass (CPython: 700)


def settle_heap() -> None:
    """Once start-up is done: keep its heap out of the collector's way, collect young objects
    less often, and keep freed memory for reuse (``keep_freed_memory``).

    What start-up built (modules, routes, the spec, pools) lives as long as the process, so
    ``gc.freeze`` takes it out of the full passes. A request or a delivery allocates thousands
    of short-lived containers (SQLAlchemy rows and statements, msgspec structs, httpcore
    requests): at CPython's 700 the youngest generation was collected 240 times in a worker's
    share of bench.document_delivery, promoting whatever was alive at that instant to be walked
    again. At 10,000 it is collected 11 times, nearly all of those objects already gone: the
    collector's time per worker went from 0.14-0.19 s to 0.03 s (about 6% of its CPU). Cycles
    are still collected; only a few MB more of young garbage waits for it.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Let glibc keep the memory a process frees, for the next allocation of the same size.

    A batch of webhook deliveries with documents reaches PostgreSQL as one ~1 MB message, built
    in buffers that are freed once it is sent. By default glibc serves such sizes with a fresh
    mmap, or grows the heap and trims it again on free: every batch then faults in (and has the
    kernel zero) a few hundred new pages. Sending a 950 KB parameter took 1,190 us of CPU that
    way and 160 us with these thresholds. The cost is up to 64 MB of freed memory held by a
    process after a burst. Elsewhere than glibc (no ``mallopt``) this does nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 16 * _MB)  # heap, not mmap, up to this size (fixed, not adaptive)
    mallopt(_M_TRIM_THRESHOLD, 64 * _MB)  # free memory kept at the top of the heap before trimming


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
