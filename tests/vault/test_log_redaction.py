"""Live secret values are masked in stdlib logging, loguru, and sanitized provider errors."""

from __future__ import annotations

import base64
import io
import logging
import urllib.parse
from collections.abc import Iterator

import pytest
from loguru import logger
from vault_helpers import fake_key

from voxroute.vault import MASK, RedactingFilter, Secret, install_log_redaction, redact, sanitize


def _forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "plain": value,
        "base64": base64.b64encode(raw).decode(),
        "urlsafe_base64": base64.urlsafe_b64encode(raw).decode(),
        "url": urllib.parse.quote(value, safe=""),
    }


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A real handler on the root logger at DEBUG, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def loguru_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    sink = logger.add(stream, format="{message} {extra}", level="DEBUG", diagnose=True)
    yield stream
    logger.remove(sink)
    logger.configure(patcher=None)  # type: ignore[arg-type]


def test_the_root_handler_masks_every_form_of_a_live_secret(root_stream: io.StringIO) -> None:
    value = fake_key("deepgram")
    Secret(value)
    install_log_redaction(loguru=False)
    log = logging.getLogger("voxroute.test.redaction")
    for name, form in _forms(value).items():
        log.debug("%s form: %s", name, form)
        log.info("Authorization: Token " + form)
    output = root_stream.getvalue()
    for form in _forms(value).values():
        assert form not in output
    assert output.count(MASK) == 8


def test_tracebacks_and_stack_info_are_masked_too(root_stream: io.StringIO) -> None:
    value = fake_key("elevenlabs")
    Secret(value)
    install_log_redaction(loguru=False)
    log = logging.getLogger("voxroute.test.redaction")
    try:
        raise RuntimeError(f"provider said: bad key {value}")
    except RuntimeError:
        log.exception("call failed")
    log.warning("stack", stack_info=True, extra={"note": value})
    output = root_stream.getvalue()
    assert "RuntimeError" in output
    assert value not in output


def test_installing_twice_adds_one_filter_per_handler(root_stream: io.StringIO) -> None:
    install_log_redaction(loguru=False)
    install_log_redaction(loguru=False)
    handler = logging.getLogger().handlers[-1]
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_loguru_messages_extras_and_exceptions_are_masked(loguru_stream: io.StringIO) -> None:
    value = fake_key("cartesia")
    Secret(value)
    install_log_redaction()
    for name, form in _forms(value).items():
        logger.debug("{} form: {}", name, form)
    logger.bind(api_key=value).info("connecting")
    api_key = value  # noqa: F841 - a local that loguru's diagnose mode would print
    try:
        raise ValueError(f"401 for key {value}")
    except ValueError:
        logger.exception("service error")
    output = loguru_stream.getvalue()
    assert "ValueError" in output
    for form in _forms(value).values():
        assert form not in output
    assert MASK in output


def test_sanitize_masks_registered_values_and_credential_shapes() -> None:
    value = fake_key("openai")
    Secret(value)
    message = (
        f"Incorrect API key provided: {value}. "
        "headers={'Authorization': 'Bearer abcdef123456789'}"
        " url=https://api.example.com/v1?api_key=zzzzzzzz9999&x=1 other sk-proj-ABCDEFGHIJKLMNOP"
    )
    cleaned = sanitize(message)
    for leaked in (value, "abcdef123456789", "zzzzzzzz9999", "sk-proj-ABCDEFGHIJKLMNOP"):
        assert leaked not in cleaned
    assert "Incorrect API key provided" in cleaned
    assert len(sanitize("x" * 5000, limit=100)) == 100


def test_short_values_are_not_registered_so_ordinary_text_survives() -> None:
    Secret("abc")
    assert redact("abc abc") == "abc abc"
