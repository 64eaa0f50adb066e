"""Key resolution: which key serves each stage of each call."""

from voxroute.routing.policy import Candidate, Decision, decide, effective_policy
from voxroute.routing.resolver import KeyResolver, ManagedKeys
from voxroute.routing.types import STAGES, FailurePolicy, KeySource, ResolvedStage, Stage

__all__ = [
    "STAGES",
    "Candidate",
    "Decision",
    "FailurePolicy",
    "KeyResolver",
    "KeySource",
    "ManagedKeys",
    "ResolvedStage",
    "Stage",
    "decide",
    "effective_policy",
]
