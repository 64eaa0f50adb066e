"""voxroute: live AI phone-call runtime with per-stage key routing."""

__version__ = "0.1.0"
