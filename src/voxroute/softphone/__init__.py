"""Client side of a Twilio call, placed exactly as Twilio places it.

Signed webhook, TwiML, Media Streams websocket: for `voxroute call`, end-to-end tests and
the load generator.
"""

from voxroute.softphone.client import CallPlan, place_call, run_call_plan
from voxroute.softphone.result import CallResult, format_result

__all__ = ["CallPlan", "CallResult", "format_result", "place_call", "run_call_plan"]
