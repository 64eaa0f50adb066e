"""Per-org concurrency slots (security-bar case 27), in-process and on a real Redis."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import redis
from redis.asyncio import Redis
from sqlalchemy import select, update

from tests.calls.harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    HELLO,
    Env,
    Factory,
    call,
    running_server,
    seed,
)
from tests.calls.wire import new_call_sid, stream_of, voice_webhook
from voxroute.calls.slots import InProcessOrgSlots, OrgSlots, RedisOrgSlots
from voxroute.db.models import Call, Organization
from voxroute.emulators import EmulatorSuite
from voxroute.telephony.twilio.signature import compute_signature

REDIS_URL = "redis://127.0.0.1:6379/0"
SlotsFactory = Callable[[float], OrgSlots]


def _redis_up() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except (OSError, redis.RedisError):
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The machine's Redis at 127.0.0.1:6379, started (memory only) if it is down."""
    if not _redis_up():
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("Redis is not running and redis-server is not installed")
        subprocess.run(
            [server, "--daemonize", "yes", "--port", "6379", "--save", "", "--appendonly", "no"],
            check=True,
            capture_output=True,
        )
        for _ in range(50):
            if _redis_up():
                break
            time.sleep(0.1)
        else:
            pytest.fail("redis-server did not come up")
    return REDIS_URL


@pytest.fixture(params=["in_process", "redis"])
async def make_slots(request: pytest.FixtureRequest) -> AsyncIterator[SlotsFactory]:
    """Builds 'nodes' sharing one slot store; every node is closed at the end."""
    made: list[OrgSlots] = []
    shared = InProcessOrgSlots()
    prefix = f"voxroute-test:{secrets.token_hex(4)}:"
    url = request.getfixturevalue("redis_server") if request.param == "redis" else ""

    def make(lease_s: float = 30.0) -> OrgSlots:
        if url:
            slots: OrgSlots = RedisOrgSlots(Redis.from_url(url), lease_s=lease_s, prefix=prefix)
        else:
            # One process: every "node" is the same store, as in the embedded default.
            shared.lease_s = lease_s
            slots = shared
        made.append(slots)
        return slots

    yield make
    for slots in made:
        await slots.aclose()


async def test_parallel_acquires_get_exactly_the_cap(make_slots: SlotsFactory) -> None:
    nodes = [make_slots(30.0) for _ in range(3)]
    results = await asyncio.gather(
        *(nodes[i % 3].acquire("org_a", f"call_{i}", limit=5, ttl_s=30.0) for i in range(60))
    )
    assert sum(results) == 5
    assert await nodes[0].active("org_a") == 5
    assert await nodes[1].acquire("org_b", "call_x", limit=5, ttl_s=30.0)  # orgs are apart


async def test_acquiring_again_refreshes_the_same_calls_slot(make_slots: SlotsFactory) -> None:
    slots = make_slots(30.0)
    assert await slots.acquire("org_a", "call_1", limit=1, ttl_s=30.0)
    assert await slots.acquire("org_a", "call_1", limit=1, ttl_s=30.0)
    assert not await slots.acquire("org_a", "call_2", limit=1, ttl_s=30.0)
    await slots.release("org_a", "call_1")
    assert await slots.acquire("org_a", "call_2", limit=1, ttl_s=30.0)


async def test_an_unrenewed_lease_expires(make_slots: SlotsFactory) -> None:
    slots = make_slots(30.0)
    assert await slots.acquire("org_a", "call_1", limit=1, ttl_s=0.3)
    assert not await slots.acquire("org_a", "call_2", limit=1, ttl_s=0.3)
    await asyncio.sleep(0.5)
    assert await slots.active("org_a") == 0
    assert await slots.acquire("org_a", "call_2", limit=1, ttl_s=0.3)


async def test_held_leases_are_renewed_and_a_dead_nodes_leases_expire(
    make_slots: SlotsFactory,
) -> None:
    # A 1 s lease is renewed every 1/3 s, so it survives a 0.6 s stall of this test's loop;
    # with 0.4 s leases a whole-suite run once saw the held lease expire.
    node_a, node_b = make_slots(1.0), make_slots(1.0)
    await node_a.start()
    assert await node_a.acquire("org_a", "call_1", limit=1, ttl_s=1.0)
    await node_a.hold("org_a", "call_1")
    await asyncio.sleep(2.5)  # 2.5 lease lengths: alive only because it is renewed
    assert await node_b.active("org_a") == 1
    assert not await node_b.acquire("org_a", "call_2", limit=1, ttl_s=1.0)
    await node_a.aclose()  # the node dies without releasing anything
    await asyncio.sleep(1.5)
    assert await node_b.acquire("org_a", "call_2", limit=1, ttl_s=1.0)


async def _set_cap(factory: Factory, org_id: str, cap: int) -> None:
    async with factory() as session:
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(max_concurrent_calls=cap)
        )
        await session.commit()


@pytest.mark.parametrize("store", ["in_process", "redis"])
async def test_parallel_webhooks_answer_exactly_the_orgs_cap(
    session_factory: Factory, store: str, request: pytest.FixtureRequest
) -> None:
    seeded = await seed(session_factory)
    await _set_cap(session_factory, seeded.org_id, 3)
    slots: OrgSlots = InProcessOrgSlots()
    if store == "redis":
        url = request.getfixturevalue("redis_server")
        prefix = f"voxroute-test:{secrets.token_hex(4)}:"
        slots = RedisOrgSlots(Redis.from_url(url), prefix=prefix)
    async with running_server(session_factory, org_slots=slots) as (base, runtime):
        answers = await asyncio.gather(*(voice_webhook(base, new_call_sid()) for _ in range(12)))
        active = await runtime.org_slots.active(seeded.org_id)
    await slots.aclose()
    assert all(status == 200 for status, _ in answers)
    streams = [twiml for _, twiml in answers if stream_of(twiml) is not None]
    busy = [twiml for _, twiml in answers if '<Reject reason="busy"/>' in twiml]
    assert (len(streams), len(busy), active) == (3, 9, 3)
    async with session_factory() as session:
        reasons = list((await session.execute(select(Call.end_reason))).scalars())
    assert sorted(reasons, key=str) == [None] * 3 + ["org_concurrency_limit"] * 9


async def test_a_finished_call_gives_its_slot_back(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    from tests.calls.harness import default_stages

    seeded = await seed(session_factory)
    await _set_cap(session_factory, seeded.org_id, 1)
    async with running_server(session_factory, twilio_api_base_url=suite.base_urls["twilio"]) as (
        base,
        runtime,
    ):
        runtime.stages = default_stages(suite)
        env = Env(base, runtime, suite, session_factory)
        first = await call(env, [HELLO])
        assert await runtime.org_slots.active(seeded.org_id) == 0
        runtime.ended.clear()
        second = await call(env, [])
    assert first.ok and second.ok and first.reply_latency_ms
    assert [r.end_reason for r in runtime.reports] == ["caller_hung_up"] * 2


async def test_a_call_that_ends_while_ringing_frees_its_slot(session_factory: Factory) -> None:
    seeded = await seed(session_factory)
    await _set_cap(session_factory, seeded.org_id, 1)
    async with running_server(session_factory) as (base, runtime):
        call_sid = new_call_sid()
        assert stream_of((await voice_webhook(base, call_sid))[1]) is not None
        assert await runtime.org_slots.active(seeded.org_id) == 1
        url = base + "/telephony/twilio/status"
        params = {"AccountSid": ACCOUNT_SID, "CallSid": call_sid, "CallStatus": "no-answer"}
        headers = {"X-Twilio-Signature": compute_signature(AUTH_TOKEN, url, params)}
        async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers):
            pass
        assert await runtime.org_slots.active(seeded.org_id) == 0
        assert stream_of((await voice_webhook(base, new_call_sid()))[1]) is not None
