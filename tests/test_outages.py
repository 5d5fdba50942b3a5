"""Which errors mean "PostgreSQL or Valkey is unreachable" (503, try the task later)."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
import sqlalchemy.exc

from gateway.outages import is_outage
from workers.worker import lost_valkey


def wrapped(driver_error: Exception, *, invalidated: bool = False) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy raises for a driver error: the original is its ``orig`` and cause."""
    try:
        try:
            raise driver_error
        except Exception as exc:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", {}, exc, connection_invalidated=invalidated) from exc
    except sqlalchemy.exc.DBAPIError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        FileNotFoundError(2, "no socket"),  # PostgreSQL's unix socket is gone while it restarts
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")),
        wrapped(asyncpg.InterfaceError("connection is closed")),
        wrapped(asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation")),
        wrapped(ValueError("whatever"), invalidated=True),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        redis.exceptions.ConnectionError("Connection closed by server."),
        redis.exceptions.BusyLoadingError("Valkey is loading the dataset in memory"),
    ],
    ids=repr,
)
def test_unreachable_backing_services_are_outages(error: Exception) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad input"),
        wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        wrapped(asyncpg.exceptions.DataError("invalid input for query argument")),
        wrapped(asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")),
        redis.exceptions.ResponseError("WRONGTYPE"),
    ],
    ids=repr,
)
def test_other_errors_keep_their_meaning(error: Exception) -> None:
    assert not is_outage(error)


def test_a_watch_broken_by_a_lost_connection_is_a_lost_valkey() -> None:
    try:
        try:
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        except redis.exceptions.ConnectionError:
            raise redis.exceptions.WatchError("A ConnectionError occurred on while watching") from None
    except redis.exceptions.WatchError as exc:
        watch_error = exc
    assert lost_valkey(watch_error)
    assert not lost_valkey(redis.exceptions.WatchError("another client changed the key"))
