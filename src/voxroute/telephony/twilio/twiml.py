"""TwiML answers: a bidirectional `<Connect><Stream>` carrying the call token, or a refusal."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "STREAM_PATH",
    "hangup_twiml",
    "reject_twiml",
    "say_hangup_twiml",
    "stream_twiml",
    "stream_url",
]

STREAM_PATH = "/telephony/twilio/stream"


def stream_url(public_url: str) -> str:
    """`wss://` for an https public URL, `ws://` for http (local runs and tests)."""
    base = public_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + STREAM_PATH
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + STREAM_PATH
    raise ValueError("public URL must start with http:// or https://")


def stream_twiml(url: str, parameters: dict[str, str]) -> str:
    """`<Connect><Stream>`; parameters become `<Parameter>`s (Twilio allows no query string)."""
    params = "".join(
        f"<Parameter name={quoteattr(name)} value={quoteattr(value)}/>"
        for name, value in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect></Response>"
    )


def reject_twiml(reason: str = "busy") -> str:
    """Refuse the call before answering (no charge to the caller)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Reject reason={quoteattr(reason)}/></Response>"
    )


def hangup_twiml() -> str:
    """TwiML that hangs up at once, saying nothing."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def say_hangup_twiml(message: str) -> str:
    """Answer, speak `message` (Twilio's own TTS: no provider key involved), hang up."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Say>{escape(message)}</Say><Hangup/></Response>"
    )
