"""Every statement a call sends is one SQLAlchemy can cache: compiled once per worker, not
once per call or per batch.

A statement with its data built into it (`insert().values(rows)`, several rows) has no
cache key and is compiled on every execution: on a worker with a hundred live calls, the
usage recorder's batches of that kind stalled the event loop ~30 ms per hundred rows
(BENCHMARKS.md §5, ninth round). This runs a whole call, webhook to settlement, through
the real app and checks the cache status SQLAlchemy reports for each statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT, CACHE_MISS
from sqlalchemy.sql import ClauseElement

from tests.metering.conftest import Served, call_demo_until_settled


async def test_a_call_from_webhook_to_settlement_sends_only_cacheable_statements(
    served: Served,
) -> None:
    executed: list[tuple[str, object]] = []

    def after_execute(
        conn: Any, clause: Any, multi: Any, params: Any, opts: Any, result: Any
    ) -> None:
        if isinstance(clause, ClauseElement):
            executed.append((str(clause).split("\n")[0][:100], result.context.cache_hit))

    sync_engine = served.runtime.engine.sync_engine
    event.listen(sync_engine, "after_execute", after_execute)
    try:
        await call_demo_until_settled(served, "+15550147777")
    finally:
        event.remove(sync_engine, "after_execute", after_execute)

    statements = {sql for sql, _ in executed}
    # The call's own writes are among them: the call row, the usage batch, the settlement.
    assert any(s.startswith("INSERT INTO calls") for s in statements), statements
    assert any(s.startswith("INSERT INTO usage_records") for s in statements), statements
    assert any(s.startswith("INSERT INTO ledger_entries") for s in statements), statements
    uncached = sorted(
        {(sql, str(status)) for sql, status in executed if status not in (CACHE_HIT, CACHE_MISS)}
    )
    assert not uncached, uncached
