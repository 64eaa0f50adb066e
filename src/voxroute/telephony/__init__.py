"""Telephony carriers: webhooks, TwiML and media-stream protocols (Twilio first)."""
