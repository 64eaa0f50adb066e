"""Telephony carriers and the media seam the call core sees.

`media.py` is the carrier-neutral `MediaSession`; `audio_clock.py`, `inbound_guard.py` and
`media_lane.py` are shared by carriers. Each carrier is a folder (`twilio/`) that builds a
`MediaSession` for every call and hands it to the call core (`telephony.media.CallCore`).
"""
