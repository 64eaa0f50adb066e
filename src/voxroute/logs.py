"""Process logging: one format, secrets redacted everywhere, pipecat's loguru tamed."""

from __future__ import annotations

import logging
import sys

from voxroute.vault.redaction import install_log_redaction


def configure_logging(level: str = "INFO") -> None:
    """Configure stdlib logging and loguru once, at start-up (never at import time).

    pipecat logs every synthesized sentence at DEBUG, so its loguru sink stays at WARNING
    unless the operator asks for DEBUG explicitly.
    """
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # Client libraries log every provider request at INFO: noise on a busy call server.
    for name in ("httpx", "httpx2", "websockets", "aiohttp.access"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if level.upper() == "DEBUG" else "WARNING", diagnose=False)
    install_log_redaction()
