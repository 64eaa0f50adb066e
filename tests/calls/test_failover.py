from __future__ import annotations

import pytest
from pipecat.utils.errors import ErrorCategory

from tests.calls.harness import stage
from voxroute.calls.failover import Action, FailureKind, classify, decide
from voxroute.errors import ProviderAuthError


@pytest.mark.parametrize(
    ("category", "kind"),
    [
        (ErrorCategory.AUTHENTICATION, FailureKind.AUTH),
        (ErrorCategory.AUTHORIZATION, FailureKind.AUTH),
        (ErrorCategory.RATE_LIMIT, FailureKind.RATE_LIMIT),
        (ErrorCategory.QUOTA, FailureKind.QUOTA),
        (ErrorCategory.SERVER, FailureKind.UNAVAILABLE),
        (ErrorCategory.CONNECTIVITY, FailureKind.UNAVAILABLE),
    ],
)
def test_pipecat_error_categories_map_to_failure_kinds(
    category: ErrorCategory, kind: FailureKind
) -> None:
    assert classify(None, category) is kind


def test_classification_falls_back_to_exception_type_then_message() -> None:
    assert classify(ProviderAuthError("no")) is FailureKind.AUTH
    assert classify(None, None, "Deepgram rejected the connection (status 401)") is FailureKind.AUTH
    assert classify(None, None, "something odd") is FailureKind.OTHER


def test_auth_failure_tries_the_pool_then_ends_the_call_and_never_uses_managed() -> None:
    byo = stage("stt", "deepgram", "k-000001", None)
    decision = decide(byo, FailureKind.AUTH, policy="fallback_to_managed", service_usable=False)
    assert decision.actions == (Action.NEXT_POOL_KEY, Action.END_CALL)
    assert decision.end_reason == "provider_auth_failed:stt" and decision.report_credential


def test_rate_limit_falls_back_to_managed_only_under_fallback_policy() -> None:
    byo = stage("llm", "openai", "k-000001", None)
    strict = decide(byo, FailureKind.RATE_LIMIT, policy="strict", service_usable=True)
    allowed = decide(byo, FailureKind.RATE_LIMIT, policy="fallback_to_managed", service_usable=True)
    assert Action.MANAGED_FALLBACK not in strict.actions
    assert allowed.actions == (Action.NEXT_POOL_KEY, Action.MANAGED_FALLBACK, Action.IGNORE)
    assert allowed.fallback_reason == "rate_limited"


def test_a_managed_key_never_falls_back_to_itself() -> None:
    managed = stage("llm", "openai", "k-000001", None, source="managed")
    decision = decide(
        managed, FailureKind.QUOTA, policy="fallback_to_managed", service_usable=False
    )
    assert decision.actions == (Action.NEXT_POOL_KEY, Action.END_CALL)


def test_a_transient_outage_is_ridden_out_while_the_service_still_works() -> None:
    byo = stage("tts", "cartesia", "k-000001", None)
    assert decide(byo, FailureKind.UNAVAILABLE, policy="strict", service_usable=True).actions == (
        Action.IGNORE,
    )
    assert decide(
        byo, FailureKind.UNAVAILABLE, policy="strict", service_usable=False
    ).end_reason == ("provider_unavailable:tts")
