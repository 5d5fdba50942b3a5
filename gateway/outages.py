"""Telling "PostgreSQL or Valkey could not be reached" apart from every other error.

A restart, a failover or a cut connection is not a bug in the request or the task: a client
gets a 503 problem and tries again, a task is tried again later, and the pooled connection
that saw it is thrown away (``gateway/db/session.py``). Everything else keeps its meaning.
"""

from __future__ import annotations

import asyncpg
import redis.exceptions
import sqlalchemy.exc

# asyncpg errors that mean the connection or the server is gone, not that the statement was bad.
_POSTGRES = (
    asyncpg.PostgresConnectionError,  # class 08: connection does not exist, failure, rejected...
    asyncpg.exceptions.AdminShutdownError,  # 57P01: a restart cut the connection
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
)
# asyncpg's own state errors after a connection died under a statement ("connection is closed",
# "another operation is in progress"); their subclasses (DataError...) are about the input.
_POSTGRES_CLIENT_STATE = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
_REDIS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # incl. BusyLoadingError


def _is_outage_error(exc: BaseException) -> bool:
    if isinstance(exc, _POSTGRES) or type(exc) in _POSTGRES_CLIENT_STATE:
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    # Pool checkout timed out: every connection busy or none can be opened.
    return isinstance(exc, (*_REDIS, OSError, sqlalchemy.exc.TimeoutError))


def is_outage(exc: BaseException) -> bool:
    """True when ``exc``, or an error it wraps, says PostgreSQL or Valkey is unreachable."""
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy wraps the driver's error, which may wrap an OSError
        if seen is None:
            return False
        if _is_outage_error(seen):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False
