"""`voxroute loadtest`: many simulated Twilio calls against a running server, on loopback.

Each call is the softphone's call (signed webhook, TwiML, media websocket), clocked by one
shared 20 ms `FrameClock` so hundreds fit in one process; `build_report` makes the JSON.
"""

from voxroute.loadtest.config import LoadConfig, LoadConfigError, check_loopback
from voxroute.loadtest.report import build_report, format_report
from voxroute.loadtest.runner import LoadRun, run_load

__all__ = [
    "LoadConfig",
    "LoadConfigError",
    "LoadRun",
    "build_report",
    "check_loopback",
    "format_report",
    "run_load",
]
