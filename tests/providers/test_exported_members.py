"""The public API of `voxroute.providers` is exactly its ``__all__`` (httpx's pattern)."""

from __future__ import annotations

import inspect

import voxroute.providers as providers

EXPECTED = {
    "LLM_PROVIDERS",
    "STT_PROVIDERS",
    "TTS_PROVIDERS",
    "Catalog",
    "CheckResult",
    "CheckStatus",
    "ErrorCategory",
    "FieldSpec",
    "ProviderResources",
    "ProviderSpec",
    "build_llm",
    "build_stt",
    "build_tts",
    "check_credential",
    "classify_error_frame",
    "classify_error_text",
    "classify_exception",
    "classify_status",
    "load_catalog",
    "provider_error",
    "provider_error_from_exception",
    "provider_error_from_frame",
    "to_ws",
}


def test_all_lists_exactly_the_public_api() -> None:
    assert set(providers.__all__) == EXPECTED
    assert sorted(providers.__all__) == sorted(set(providers.__all__))


def test_every_exported_function_and_class_resolves_and_has_a_docstring() -> None:
    for name in providers.__all__:
        member = getattr(providers, name)
        if inspect.isfunction(member) or inspect.isclass(member):
            assert member.__doc__, f"{name} has no docstring"


def test_unknown_names_are_attribute_errors() -> None:
    try:
        providers.DeepgramSTT  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("provider internals must not leak through the package")


def test_every_catalog_provider_with_a_speech_or_llm_category_has_an_adapter() -> None:
    catalog = providers.load_catalog()
    tables = {
        "stt": providers.STT_PROVIDERS,
        "llm": providers.LLM_PROVIDERS,
        "tts": providers.TTS_PROVIDERS,
    }
    for spec in catalog:
        for category in spec.categories:
            if category in tables:
                assert spec.id in tables[category], f"{spec.id} {category} has no adapter"
