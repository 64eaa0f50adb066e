"""`Secret`: a value that never shows itself in repr, str, logs, JSON, pickles or copies."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from voxroute.vault import redaction

_MASK = "**********"


class Secret:
    """Holds a secret string in memory; `reveal()` is the only way to read it.

    Creating a Secret registers its value with the log redaction filter, so a value that
    escapes into a log line by accident is still masked. `json.dumps` refuses it (not
    serializable), pickling raises, copies are the same object, and inside a pydantic model it
    validates from a plain string and always dumps as the mask.
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
        # Constant-time, so comparing a guess against a key leaks nothing through timing.
        return isinstance(other, Secret) and hmac.compare_digest(
            other.__value.encode(), self.__value.encode()
        )

    def __hash__(self) -> int:
        return hash(("Secret", self.__value))

    def __len__(self) -> int:
        return len(self.__value)

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Accept a `Secret` or a str; serialize (python and JSON) as the mask, never the value."""
        from_str = core_schema.no_info_after_validator_function(cls, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_str]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda _value: _MASK, when_used="always"
            ),
        )


def reveal_all(fields: dict[str, Secret]) -> dict[str, str]:
    """Plain values for handing to a provider client at the last moment."""
    return {name: value.reveal() for name, value in fields.items()}
