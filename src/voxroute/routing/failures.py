"""What a provider failure during a call means: one plan per (stage, category, policy).

The category comes from the one classifier (`providers.errors.classify_error_frame`, pipecat's
`ErrorCategory`); the plan follows DESIGN §2:

- authentication/authorization (401/403) is permanent: mark the credential invalid, try
  another key of the same pool, else end the call. Never the managed key.
- rate limit (429) / quota (402): cool the key down, try another key of the pool; else, under
  `fallback_to_managed` and for a non-managed key, the managed key (`managed_fallback`); else
  end the call if the service cannot go on, or ride it out.
- anything else (5xx, connectivity, a refused request): end the call only once the service
  gave up.

Pure and synchronous, so it is tested without a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipecat.utils.errors import ErrorCategory

from voxroute.routing.types import FailurePolicy, ResolvedStage

__all__ = ["CredentialEffect", "FailureAction", "FailurePlan", "plan_failure"]

AUTH_CATEGORIES = frozenset({ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION})
LIMIT_CATEGORIES = frozenset({ErrorCategory.RATE_LIMIT, ErrorCategory.QUOTA})
_FALLBACK_REASONS = {
    ErrorCategory.RATE_LIMIT: "rate_limited",
    ErrorCategory.QUOTA: "quota_exceeded",
}


class FailureAction(StrEnum):
    """One step of a `FailurePlan`: ride it out, the pool's next key, the managed key, or end."""

    IGNORE = "ignore"  # transient: the service keeps going
    NEXT_POOL_KEY = "next_pool_key"
    MANAGED_FALLBACK = "managed_fallback"
    END_CALL = "end_call"


class CredentialEffect(StrEnum):
    """What the failure does to the stored credential (the store applies it)."""

    NONE = "none"
    COOL_DOWN = "cool_down"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class FailurePlan:
    """Try `actions` in order; the first that works wins.

    `credential` says what to record about the failed key (only for a stored key: a managed
    key has no row).
    """

    category: ErrorCategory
    actions: tuple[FailureAction, ...]
    credential: CredentialEffect = CredentialEffect.NONE

    @property
    def fallback_reason(self) -> str:
        """Recorded on the replacement key's trace."""
        return _FALLBACK_REASONS.get(self.category, self.category.value)

    @property
    def ignored(self) -> bool:
        return self.actions == (FailureAction.IGNORE,)


def plan_failure(
    stage: ResolvedStage,
    category: ErrorCategory,
    *,
    policy: FailurePolicy,
    service_usable: bool,
) -> FailurePlan:
    """What to do about a failure of `stage` classified as `category`."""
    stored = stage.credential_id is not None
    last = FailureAction.IGNORE if service_usable else FailureAction.END_CALL
    if category in AUTH_CATEGORIES:
        effect = CredentialEffect.INVALID if stored else CredentialEffect.NONE
        return FailurePlan(category, (FailureAction.NEXT_POOL_KEY, FailureAction.END_CALL), effect)
    if category in LIMIT_CATEGORIES:
        actions = [FailureAction.NEXT_POOL_KEY]
        if policy == "fallback_to_managed" and stage.source not in ("managed", "managed_fallback"):
            actions.append(FailureAction.MANAGED_FALLBACK)
        actions.append(last)
        effect = CredentialEffect.COOL_DOWN if stored else CredentialEffect.NONE
        return FailurePlan(category, tuple(actions), effect)
    return FailurePlan(category, (last,))
