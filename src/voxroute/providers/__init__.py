"""Providers: catalog, per-call service adapters, error classification, key checks.

This list is the package's public API (pinned by ``tests/providers/test_exported_members.py``);
code elsewhere imports from here, not from the provider folders.

Names are loaded lazily (PEP 562): importing the catalog for the REST API does not pull in
pipecat and the provider SDKs (~1 s of imports), only building a service does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voxroute.providers.catalog import Catalog, FieldSpec, ProviderSpec, load_catalog
    from voxroute.providers.errors import (
        ErrorCategory,
        classify_error_frame,
        classify_error_text,
        classify_exception,
        classify_status,
        provider_error,
        provider_error_from_exception,
        provider_error_from_frame,
    )
    from voxroute.providers.factory import (
        LLM_PROVIDERS,
        STT_PROVIDERS,
        TTS_PROVIDERS,
        build_llm,
        build_stt,
        build_tts,
    )
    from voxroute.providers.resources import ProviderResources
    from voxroute.providers.urls import to_ws
    from voxroute.providers.validation import CheckResult, CheckStatus, check_credential

__all__ = [
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
]

_HOME = {
    "Catalog": "catalog",
    "FieldSpec": "catalog",
    "ProviderSpec": "catalog",
    "load_catalog": "catalog",
    "ErrorCategory": "errors",
    "classify_error_frame": "errors",
    "classify_error_text": "errors",
    "classify_exception": "errors",
    "classify_status": "errors",
    "provider_error": "errors",
    "provider_error_from_exception": "errors",
    "provider_error_from_frame": "errors",
    "LLM_PROVIDERS": "factory",
    "STT_PROVIDERS": "factory",
    "TTS_PROVIDERS": "factory",
    "build_llm": "factory",
    "build_stt": "factory",
    "build_tts": "factory",
    "ProviderResources": "resources",
    "to_ws": "urls",
    "CheckResult": "validation",
    "CheckStatus": "validation",
    "check_credential": "validation",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'voxroute.providers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"voxroute.providers.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
