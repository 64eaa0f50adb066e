"""SQLAlchemy's aiosqlite adapter, with one trip to aiosqlite's thread per statement.

The stock adapter makes four trips for a SELECT (open a cursor, execute, fetch, close) and
three for other statements, and a session that only read still pays two rollbacks when it
closes. Every trip is a queue hand-off to aiosqlite's thread and a callback back on the
event loop, so on a worker busy with live calls each one waits for a turn of the loop: a
call set-up's sixteen statements made some sixty trips (`bench/sqlite_trips.py`).

Here a statement runs whole in the thread (cursor, execute, fetch, close) and comes back
as its rows, description, row count and the connection's transaction state; commit and
rollback skip the trip when SQLite says no transaction is open (a read-only session with
SQLite's implicit transactions opens none). The state is exact because every statement on
the connection goes through this adapter and reports it.

Passed to the engine as its DBAPI module (`create_async_engine(..., module=dbapi())`,
a documented engine argument); the dialect and everything above it are SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["dbapi"]

_Outcome = tuple[Any, list[Any], int, int | None, bool]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In aiosqlite's thread: the whole statement, and what the caller needs of it."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor that holds no driver cursor between statements."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:  # no trip: nothing to open
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1  # the DBAPI default; the rows are all here already

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:  # nothing to close: the thread closed it
        return None

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt_connection
        assert isinstance(adapt, _Connection)
        # Unknown until the thread answers: a statement that fails, or whose caller is
        # cancelled while it runs, may have opened a transaction that must be rolled back.
        adapt.in_transaction = None
        try:
            outcome = await_(adapt.run_in_thread(_run, operation, parameters, many))
        except Exception as error:  # noqa: BLE001 (re-raised as the DBAPI's error, as stock)
            adapt._handle_exception(error)
        description, rows, self._rowcount, self._lastrowid, adapt.in_transaction = outcome
        self._description = description
        self._rows = collections.deque(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("in_transaction",)

    _cursor_cls = _Cursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        # SQLite's own answer after this adapter's last statement; None: ask (take the trip).
        self.in_transaction: bool | None = None

    async def run_in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._execute_mutex:
            return await self._connection._execute(fn, self._connection._conn, *args)

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # a streaming cursor's statements do not report the state back
            self.in_transaction = None
        return super().cursor(server_side)

    @property
    def isolation_level(self) -> str | None:
        return super().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # Changing it can commit an open transaction (Python's sqlite3 does, to autocommit).
        AsyncAdapt_aiosqlite_connection.isolation_level.fset(self, value)  # type: ignore[attr-defined]
        self.in_transaction = None

    def rollback(self) -> None:
        if self.in_transaction is not False:
            super().rollback()
            self.in_transaction = False

    def commit(self) -> None:
        if self.in_transaction is not False:
            super().commit()
            self.in_transaction = False


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        stock = super().connect(*arg, **kw)
        return _Connection(self, stock._connection)


def dbapi() -> Any:
    """The DBAPI module for `create_async_engine(url, module=...)` on `sqlite+aiosqlite`."""
    return _DBAPI(aiosqlite, sqlite3)
