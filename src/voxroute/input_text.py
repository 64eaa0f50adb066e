"""What text no field of voxroute accepts, shared by the API's edge and the carriers' webhooks."""

from __future__ import annotations

import re

# Anything below space but tab/LF/CR, DEL, and UTF-16 surrogates (valid only in pairs).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def bad_text(value: str) -> bool:
    """Whether `value` holds a control character (other than tab/LF/CR) or a lone surrogate.

    PostgreSQL refuses a NUL in text and a lone surrogate cannot be encoded as UTF-8: either
    would fail a query with a server error if it got that far.
    """
    return _BAD_TEXT.search(value) is not None
