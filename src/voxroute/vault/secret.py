"""`Secret`: a value that never shows itself in repr, str, logs, JSON, pickles or copies."""

from __future__ import annotations

from typing import Any, NoReturn

from voxroute.vault import redaction

_MASK = "**********"


class Secret:
    """Holds a secret string in memory; `reveal()` is the only way to read it.

    Creating a Secret registers its value with the log redaction filter, so a value that
    escapes into a log line by accident is still masked.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self.__value = value
        redaction.register(value)

    def reveal(self) -> str:
        return self.__value

    @property
    def hint(self) -> str | None:
        """Last four characters, only for values long enough that this reveals little."""
        return self.__value[-4:] if len(self.__value) >= 12 else None

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash(("Secret", self.__value))

    def __len__(self) -> int:
        return len(self.__value)

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def reveal_all(fields: dict[str, Secret]) -> dict[str, str]:
    """Plain values for handing to a provider client at the last moment."""
    return {name: value.reveal() for name, value in fields.items()}

