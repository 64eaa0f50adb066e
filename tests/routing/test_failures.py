"""One classifier and one plan: what a provider failure during a call leads to."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory

from tests.calls.harness import stage
from voxroute.errors import InvalidInput, ProviderAuthError, ProviderRateLimited
from voxroute.providers.errors import classify_error_frame
from voxroute.routing.failures import CredentialEffect, FailureAction, plan_failure
from voxroute.routing.policy import effective_policy


@pytest.mark.parametrize(
    ("frame", "category"),
    [
        (ErrorFrame("x", category=ErrorCategory.QUOTA), ErrorCategory.QUOTA),
        (ErrorFrame("x", exception=ProviderAuthError("no")), ErrorCategory.AUTHENTICATION),
        (ErrorFrame("x", exception=ProviderRateLimited("slow")), ErrorCategory.RATE_LIMIT),
        (ErrorFrame("Deepgram rejected the connection (status 401)"), ErrorCategory.AUTHENTICATION),
        (ErrorFrame("HTTP 429 insufficient_quota"), ErrorCategory.QUOTA),
        (ErrorFrame("something odd"), ErrorCategory.UNKNOWN),
    ],
)
def test_the_live_path_classifies_by_category_then_exception_then_text(
    frame: ErrorFrame, category: ErrorCategory
) -> None:
    assert classify_error_frame(frame) is category


@pytest.mark.parametrize("category", [ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION])
def test_auth_failure_invalidates_the_key_tries_the_pool_and_never_uses_managed(
    category: ErrorCategory,
) -> None:
    byo = stage("stt", "deepgram", "k-000001", None)
    plan = plan_failure(byo, category, policy="fallback_to_managed", service_usable=True)
    assert plan.actions == (FailureAction.NEXT_POOL_KEY, FailureAction.END_CALL)
    assert plan.credential is CredentialEffect.INVALID


def test_rate_limit_falls_back_to_managed_only_under_fallback_policy() -> None:
    byo = stage("llm", "openai", "k-000001", None)
    strict = plan_failure(byo, ErrorCategory.RATE_LIMIT, policy="strict", service_usable=True)
    allowed = plan_failure(
        byo, ErrorCategory.RATE_LIMIT, policy="fallback_to_managed", service_usable=True
    )
    assert FailureAction.MANAGED_FALLBACK not in strict.actions
    assert allowed.actions == (
        FailureAction.NEXT_POOL_KEY,
        FailureAction.MANAGED_FALLBACK,
        FailureAction.IGNORE,
    )
    assert allowed.fallback_reason == "rate_limited"
    assert allowed.credential is CredentialEffect.COOL_DOWN


def test_a_managed_key_never_falls_back_to_itself_and_has_no_row_to_mark() -> None:
    managed = stage("llm", "openai", "k-000001", None, source="managed", credential_id=None)
    plan = plan_failure(
        managed, ErrorCategory.QUOTA, policy="fallback_to_managed", service_usable=False
    )
    assert plan.actions == (FailureAction.NEXT_POOL_KEY, FailureAction.END_CALL)
    assert plan.credential is CredentialEffect.NONE and plan.fallback_reason == "quota_exceeded"


@pytest.mark.parametrize(
    "category", [ErrorCategory.SERVER, ErrorCategory.CONNECTIVITY, ErrorCategory.UNKNOWN]
)
def test_a_transient_outage_is_ridden_out_while_the_service_still_works(
    category: ErrorCategory,
) -> None:
    byo = stage("tts", "cartesia", "k-000001", None)
    assert plan_failure(byo, category, policy="strict", service_usable=True).ignored
    ended = plan_failure(byo, category, policy="strict", service_usable=False)
    assert ended.actions == (FailureAction.END_CALL,)
    assert ended.credential is CredentialEffect.NONE


def test_the_assistant_policy_overrides_the_org_and_an_unknown_one_is_refused() -> None:
    assert effective_policy(None, None) == "strict"
    assert effective_policy(None, "fallback_to_managed") == "fallback_to_managed"
    assert effective_policy("strict", "fallback_to_managed") == "strict"
    with pytest.raises(InvalidInput):
        effective_policy("yolo", "strict")
