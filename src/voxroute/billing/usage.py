"""Metering: store priced usage rows idempotently, and a background recorder for live calls.

Calls report usage off the audio path through `UsageRecorder`: a bounded queue drained by one
owned writer task in batches. Nothing is dropped silently:

* `try_record` never blocks; when the queue is full it returns False and counts an overflow,
  and the caller keeps the event (e.g. to pass it to `settle(usage=…)`);
* `record` applies back-pressure: it waits for room (counted in `stats.waited`);
* a batch the database refuses is retried, then kept; `stop()` drains the queue and returns
  every event it could not write, which the caller hands to `settle`.

Rows are idempotent on (org, call, stage, unit, seq), so re-submitting events is always safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing.pricing import PriceBook, PricingError
from voxroute.billing.types import UsageEvent
from voxroute.db.base import new_id
from voxroute.db.models.billing import UsageRecord
from voxroute.db.transactions import insert_ignore, run_write

__all__ = ["RecordResult", "RecorderStats", "UsageRecorder", "record_usage"]

log = logging.getLogger(__name__)

CHUNK = 500  # rows per INSERT: 14 columns stay well under SQLite's bound-parameter limit
_KEY = ["org_id", "call_id", "stage", "unit", "seq"]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What `record_usage` did: rows inserted, rows already stored, rows stored unpriced at 0."""

    inserted: int
    duplicates: int
    unpriced: int


def _row(book: PriceBook, event: UsageEvent) -> tuple[dict[str, object], bool]:
    try:
        cost = book.cost(event.provider, event.model, event.unit, event.quantity, event.occurred_at)
        priced = True
    except PricingError as exc:
        # Storing the usage beats losing it; the error names what to add to pricing.toml.
        log.error("unpriced usage for call %s: %s", event.call_id, exc.message)
        cost, priced = 0, False
    return {
        "id": new_id("use"),
        "org_id": event.org_id,
        "call_id": event.call_id,
        "seq": event.seq,
        "stage": event.stage,
        "provider": event.provider,
        "model": event.model,
        "key_source": event.key_source,
        "credential_id": event.credential_id,
        "unit": event.unit,
        "quantity": event.quantity,
        "cost_micros": cost,
        "billed_micros": cost if event.billed else 0,
        "created_at": event.occurred_at,
    }, priced


async def record_usage(
    factory: async_sessionmaker[AsyncSession], book: PriceBook, events: Sequence[UsageEvent]
) -> RecordResult:
    """Price and store usage in one transaction; rows already stored are skipped, not doubled."""
    priced = [_row(book, event) for event in events]
    rows = [row for row, _ok in priced]
    unpriced = sum(1 for _row_, ok in priced if not ok)

    async def work(session: AsyncSession) -> int:
        inserted = 0
        for start in range(0, len(rows), CHUNK):
            inserted += await insert_ignore(session, UsageRecord, rows[start : start + CHUNK], _KEY)
        return inserted

    inserted = await run_write(factory, work) if rows else 0
    return RecordResult(inserted=inserted, duplicates=len(rows) - inserted, unpriced=unpriced)


@dataclass(slots=True)
class RecorderStats:
    """Running counts of a `UsageRecorder`: events queued, written, refused and given up on."""

    enqueued: int = 0
    written: int = 0
    duplicates: int = 0
    unpriced: int = 0
    overflowed: int = 0  # try_record refusals: the caller still holds those events
    waited: int = 0  # record() calls that waited for room (back-pressure applied)
    failed_writes: int = 0  # write attempts the database refused
    unwritten: int = 0  # events given up on after retries; returned by stop()
    batches: int = 0  # write transactions that stored a batch


class UsageRecorder:
    """Owns one writer task; `start()` and `stop()` are explicit, `stop()` drains the queue.

    A batch is written `linger_s` after its first event, so the events of every live call
    share one write transaction instead of one each (on SQLite each is a `BEGIN IMMEDIATE`
    and several thread hops on the event loop that also paces the calls' audio).
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        pricing: PriceBook,
        *,
        max_queue: int = 10_000,
        batch_size: int = 200,
        write_attempts: int = 5,
        retry_delay_s: float = 0.2,
        linger_s: float = 1.0,
    ) -> None:
        self._factory = factory
        self._pricing = pricing
        self._queue: asyncio.Queue[UsageEvent | None] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._write_attempts = write_attempts
        self._retry_delay_s = retry_delay_s
        self._linger_s = linger_s
        self._flush_now = asyncio.Event()  # set by stop(): no more lingering
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._inflight: list[UsageEvent] = []
        self._unwritten: list[UsageEvent] = []
        self.stats = RecorderStats()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("a UsageRecorder is started once")
        self._task = asyncio.create_task(self._run(), name="voxroute.billing.usage-writer")

    def try_record(self, event: UsageEvent) -> bool:
        """Queue without waiting (safe on the audio path); False when full: keep the event."""
        self._check_open()
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.overflowed += 1
            log.warning("usage queue full (%d): caller keeps the event", self._queue.maxsize)
            return False
        self.stats.enqueued += 1
        return True

    async def record(self, event: UsageEvent) -> None:
        """Queue, waiting for room when full: back-pressure instead of loss."""
        self._check_open()
        if self._queue.full():
            self.stats.waited += 1
        await self._queue.put(event)
        self.stats.enqueued += 1

    async def stop(self, timeout_s: float = 10.0) -> list[UsageEvent]:
        """Write everything queued, end the task, and return the events that were not stored."""
        if self._task is None or self._closed:
            return list(self._unwritten)
        self._closed = True
        self._flush_now.set()
        task = self._task
        try:
            async with asyncio.timeout(timeout_s):
                await self._queue.put(None)  # the writer stops when it reaches this marker
                await task
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._give_up(self._inflight)
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    self._give_up([item])
        return list(self._unwritten)

    def _check_open(self) -> None:
        if self._closed or self._task is None:
            raise RuntimeError("the UsageRecorder is not running")

    def _give_up(self, events: list[UsageEvent]) -> None:
        self._unwritten.extend(events)
        self.stats.unwritten += len(events)

    async def _run(self) -> None:
        done = False
        while not done:
            first = await self._queue.get()
            batch: list[UsageEvent] = []
            if first is None:
                done = True
            else:
                batch.append(first)
                await self._linger()
            while not done and len(batch) < self._batch_size and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                await self._write(batch)

    async def _linger(self) -> None:
        """Let the batch fill for `linger_s` (not when a full batch waits, nor after stop())."""
        if self._linger_s <= 0 or self._queue.qsize() >= self._batch_size:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._linger_s):
                await self._flush_now.wait()

    async def _write(self, batch: list[UsageEvent]) -> None:
        self._inflight = batch
        for attempt in range(1, self._write_attempts + 1):
            try:
                result = await record_usage(self._factory, self._pricing, batch)
            except (SQLAlchemyError, OSError) as exc:
                self.stats.failed_writes += 1
                log.warning(
                    "usage batch write failed (attempt %d): %s", attempt, type(exc).__name__
                )
                await asyncio.sleep(self._retry_delay_s * attempt)
                continue
            except Exception:
                # A bug must not kill the writer, or later events would pile up unwritten.
                log.exception("usage batch of %d events failed; kept for settle", len(batch))
                break
            self.stats.batches += 1
            self.stats.written += result.inserted
            self.stats.duplicates += result.duplicates
            self.stats.unpriced += result.unpriced
            self._inflight = []
            return
        log.error("usage batch of %d events not stored; kept for settle", len(batch))
        self._give_up(batch)
        self._inflight = []
