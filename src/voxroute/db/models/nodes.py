"""Nodes: one row per worker process of every voxroute server, renewed by its heartbeat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class Node(Base):
    """A worker's last heartbeat.

    `calls.node_id` names the worker that serves a call, so a worker whose heartbeat stops
    (killed, machine lost) has its calls found and settled.
    """

    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_heartbeat", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(32), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    live_calls: Mapped[int] = mapped_column(Integer, default=0)
    loop_lag_ms: Mapped[float] = mapped_column(Float, default=0.0)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the worker itself when it stops cleanly: not dead, gone.
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the one worker that claimed the dead node's calls (exactly one does).
    reaped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
