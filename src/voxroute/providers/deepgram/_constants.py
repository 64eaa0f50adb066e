"""Deepgram wire constants."""

DEFAULT_BASE_URL = "https://api.deepgram.com"
