"""Per-tenant REST rate limits: a noisy org is slowed, the others are not."""

from __future__ import annotations

import pytest

from tests.utils.api import Api
from tests.utils.sql import statements
from voxroute.api.rate_limit import TenantRateLimiter
from voxroute.errors import RateLimited


@pytest.fixture
def api_settings() -> dict[str, object]:
    return {"api_rate_per_s": 0.5, "api_rate_burst": 5}


async def test_a_noisy_org_gets_429_with_retry_after_and_another_org_is_unaffected(
    api: Api,
) -> None:
    noisy, quiet = await api.new_org("Noisy"), await api.new_org("Quiet")

    answers = [await noisy.member.get("/org") for _ in range(8)]

    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # The org's owner shares the org's bucket; another org has its own.
    assert (await noisy.owner.get("/org")).status_code == 429
    assert [(await quiet.member.get("/org")).status_code for _ in range(5)] == [200] * 5


def test_the_bucket_refills_at_the_rate_and_bursts_up_to_its_size() -> None:
    now = [0.0]
    limiter = TenantRateLimiter(per_second=2, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("org")
    with pytest.raises(RateLimited) as refused:
        limiter.check("org")
    assert refused.value.retry_after_s == 1
    now[0] = 0.5  # one token back
    limiter.check("org")
    with pytest.raises(RateLimited):
        limiter.check("org")
    now[0] = 100.0  # long idle: full again, never more than the burst
    for _ in range(3):
        limiter.check("org")
    with pytest.raises(RateLimited):
        limiter.check("org")
    limiter.check("other")  # its own bucket


def test_idle_buckets_are_pruned() -> None:
    now = [0.0]
    limiter = TenantRateLimiter(per_second=10, burst=10, clock=lambda: now[0])
    for n in range(2000):
        now[0] = n * 0.01
        limiter.check(f"org-{n}")
    assert len(limiter._buckets) < 2000  # only tenants seen within a refill time remain


async def test_a_flood_from_one_token_is_refused_without_a_database_round_trip(
    api: Api,
) -> None:
    noisy = await api.new_org("Noisy")
    while (await noisy.member.get("/org")).status_code != 429:
        pass
    with statements(api.runtime.api_sessions) as seen:
        refused = await noisy.member.get("/org")
    assert refused.status_code == 429
    assert seen == []
