"""The parent of `voxroute serve --workers N`: starts the workers, forwards stop signals.

uvicorn's own supervisor sends each worker one SIGTERM and then waits; a second SIGTERM to
the parent is never forwarded, and its workers are plain uvicorn servers that cut every
call on the first signal. This one forwards *every* SIGTERM/SIGINT to every worker (a
`voxroute.cli._server.DrainingServer`: the first drains, the second ends the calls),
replaces a worker that dies while serving, and returns once all workers have exited.

Workers run in their own process group, so a terminal's Ctrl-C (sent to the whole
foreground group) reaches them once, through the parent, not twice; and they are killed
when the parent is (PR_SET_PDEATHSIG), so a node killed with -9 leaves no worker behind.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

__all__ = ["Supervisor"]

log = logging.getLogger("voxroute")
STARTUP_FAILURE = 3  # uvicorn's exit code for a lifespan that failed to start
_POLL_S = 0.2
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _die_with_parent() -> None:
    """In a worker: SIGKILL when the supervisor dies without stopping it."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the supervisor's stop path is the only cleanup


class Supervisor:
    """N worker processes sharing one listening socket."""

    def __init__(self, count: int, listener: socket.socket) -> None:
        self._count = count
        self._listener = listener
        self._workers: list[subprocess.Popen[bytes]] = []
        self._pending: list[int] = []
        self._stopping = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        fd = self._listener.fileno()
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "voxroute.cli._worker", str(fd)],
            pass_fds=(fd,),
            process_group=0,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        log.info("worker %d started", proc.pid)
        return proc

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._pending.append(sig)  # acted on in the loop, not in the handler

    def run(self) -> int:
        """Serve until every worker has exited after a stop signal; the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            self._workers = [self._spawn() for _ in range(self._count)]
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for proc in self._workers:  # only on an error in the loop itself
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    def _loop(self) -> int:
        status = 0
        while self._workers:
            time.sleep(_POLL_S)
            while self._pending:
                self._forward(self._pending.pop(0))
            for index, proc in enumerate(list(self._workers)):
                code = proc.poll()
                if code is None:
                    continue
                if self._stopping:
                    self._workers.remove(proc)
                    continue
                if code == STARTUP_FAILURE:
                    log.error("worker %d failed to start; stopping", proc.pid)
                    status = 1
                    self._forward(signal.SIGTERM)
                    self._forward(signal.SIGTERM)  # nothing to drain: end at once
                    self._workers.remove(proc)
                    continue
                log.error("worker %d exited with %d; starting another", proc.pid, code)
                self._workers[index] = self._spawn()
        return status

    def _forward(self, sig: int) -> None:
        if not self._stopping:
            log.warning("%s: draining %d workers", signal.Signals(sig).name, len(self._workers))
        self._stopping = True
        for proc in self._workers:
            if proc.poll() is None:
                proc.send_signal(sig)
