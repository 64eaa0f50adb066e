"""Twilio as a carrier: webhooks, TwiML, call tokens and the Media Streams websocket.

Signed voice webhooks, TwiML `<Connect><Stream>`, single-use call tokens and the Media
Streams websocket protocol, as a `telephony.media.MediaSession` (`media.py`).
"""

from voxroute.telephony.twilio.routes import router

__all__ = ["router"]
