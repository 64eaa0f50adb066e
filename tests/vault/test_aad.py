"""AAD encoding: canonical and injective, so no two contexts share associated data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from vault_helpers import make_ctx

from voxroute.vault.aad import build_aad, encode_context, encode_parts, wrap_context

texts = st.text(min_size=0, max_size=20)


def test_fields_that_concatenate_equally_encode_differently() -> None:
    assert encode_parts(("ab", "c")) != encode_parts(("a", "bc"))
    assert encode_parts(("", "abc")) != encode_parts(("abc", ""))
    assert encode_parts(("a",)) != encode_parts(("a", ""))


def test_moving_characters_between_context_fields_changes_the_aad() -> None:
    one = make_ctx(org_id="org_ab", credential_id="c")
    two = make_ctx(org_id="org_a", credential_id="bc")
    assert build_aad(one, 1) != build_aad(two, 1)


def test_every_context_field_and_the_format_version_are_bound() -> None:
    base = make_ctx()
    variants = [
        make_ctx(org_id="org_b"),
        make_ctx(credential_id="cred_2"),
        make_ctx(provider="deepgram"),
        make_ctx(field="region"),
        make_ctx(credential_version=2),
        make_ctx(purpose="other"),
    ]
    aads = {build_aad(base, 1), build_aad(base, 2), *(build_aad(v, 1) for v in variants)}
    assert len(aads) == 2 + len(variants)


def test_wrap_context_is_a_string_map_for_kms() -> None:
    context = wrap_context(make_ctx(credential_version=3), 1)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in context.items())
    assert context["credential_version"] == "3"


@given(st.lists(texts, max_size=6), st.lists(texts, max_size=6))
def test_encoding_is_injective(a: list[str], b: list[str]) -> None:
    assert (encode_parts(a) == encode_parts(b)) == (a == b)


@given(st.dictionaries(texts, texts, max_size=5), st.dictionaries(texts, texts, max_size=5))
def test_context_encoding_is_injective_and_order_free(a: dict[str, str], b: dict[str, str]) -> None:
    assert (encode_context(a) == encode_context(b)) == (a == b)
    assert encode_context(a) == encode_context(dict(reversed(list(a.items()))))
