"""`Secret` and every secret-holding object refuse to show the value, however they are dumped."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle

import pydantic
import pytest
from vault_helpers import fake_key

from voxroute.vault import Secret, reveal_all


@dataclasses.dataclass
class _Holder:
    name: str
    key: Secret


class _Model(pydantic.BaseModel):
    name: str
    key: Secret


def test_repr_str_and_format_are_masked() -> None:
    value = fake_key()
    secret = Secret(value)
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "%s %r" % (secret, secret),  # noqa: UP031 - old-style formatting must mask too
        "{}".format(secret),  # noqa: UP032
    ):
        assert value not in shown
        assert "*" in shown


def test_pickling_is_refused() -> None:
    secret = Secret(fake_key())
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(secret, protocol=protocol)
    with pytest.raises(TypeError):
        pickle.dumps(_Holder("x", secret))


def test_copies_are_the_same_object() -> None:
    secret = Secret(fake_key())
    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret
    holder = copy.deepcopy(_Holder("x", secret))
    assert holder.key is secret


def test_json_refuses_a_secret_instead_of_printing_it() -> None:
    with pytest.raises(TypeError):
        json.dumps({"key": Secret(fake_key())})


def test_dataclass_holders_do_not_leak_through_repr_or_asdict() -> None:
    value = fake_key()
    holder = _Holder("openai", Secret(value))
    assert value not in repr(holder)
    assert value not in str(dataclasses.asdict(holder))
    assert value not in json.dumps(dataclasses.asdict(holder), default=str)


def test_pydantic_models_validate_from_str_and_dump_the_mask() -> None:
    value = fake_key()
    model = _Model(name="openai", key=value)  # type: ignore[arg-type]
    assert isinstance(model.key, Secret)
    assert model.key.reveal() == value
    assert _Model.model_validate_json(json.dumps({"name": "a", "key": value})).key.reveal() == value
    for shown in (
        repr(model),
        str(model),
        str(model.model_dump()),
        model.model_dump_json(),
        str(model.model_dump(mode="json")),
    ):
        assert value not in shown
    assert _Model(name="x", key=Secret(value)).key.reveal() == value


def test_logging_a_secret_shows_the_mask() -> None:
    value = fake_key()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "key=%s", (Secret(value),), None)
    assert value not in record.getMessage()


def test_equality_compares_values_and_hint_shows_only_the_tail_of_long_keys() -> None:
    value = fake_key()
    assert Secret(value) == Secret(value)
    assert Secret(value) != Secret(value + "x")
    assert Secret(value) != value
    assert Secret(value).hint == value[-4:]
    assert Secret("short-key").hint is None
    assert reveal_all({"api_key": Secret(value)}) == {"api_key": value}


def test_only_strings_can_be_secrets() -> None:
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
