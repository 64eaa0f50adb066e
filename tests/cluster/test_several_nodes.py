"""Two `voxroute serve` nodes on shared PostgreSQL and Redis behind HAProxy (issue 27 §1).

Each node has its own address (a network namespace each; see tests/utils/cluster.py). A
call's webhook lands on one node and its media stream on the other; a hang-up sent to the
node that does not hold the call ends it; one organisation's concurrency cap holds across
both nodes; a call through the load balancer works; and a node killed with -9 mid-call has
its call settled exactly once, marked `server_lost` and hung up at the carrier.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.utils.cluster import (
    Balancer,
    Network,
    Node,
    emulators,
    haproxy,
    node_network,
    pg_database,
    private_redis,
    start_node,
    stopping,
)
from tests.utils.held_call import WAIT_S, HeldCall, Line, Refused, voice_webhook
from voxroute.auth import Role, issue_token
from voxroute.bootstrap import prepare_database
from voxroute.db.models import Organization
from voxroute.db.session import create_engine, create_session_factory, transaction
from voxroute.demo import demo_managed_keys
from voxroute.providers.catalog import load_catalog
from voxroute.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DEAD_AFTER_S = 4


@dataclass
class Cluster:
    network: Network
    nodes: list[Node]
    balancer: Balancer
    line: Line
    org_id: str
    owner: str
    admin: str
    twilio_url: str
    database_url: str
    env: dict[str, str]
    directory: Path

    def api(self, node: Node | Balancer, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=node.url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=WAIT_S,
        )

    def stream_url(self, node: Node) -> str:
        return node.url.replace("http://", "ws://") + "/telephony/twilio/stream"

    async def call(self, call_sid: str) -> dict[str, Any]:
        async with self.api(self.balancer, self.owner) as api:
            calls = (await api.get("/calls", params={"limit": 200})).json()
        (found,) = [c for c in calls if c["provider_call_id"] == call_sid]
        return dict(found)

    async def wait_status(self, call_sid: str, status: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            call = await self.call(call_sid)
            if call["status"] == status:
                return call
            await asyncio.sleep(0.2)
        raise AssertionError(f"call {call_sid} never became {status}")

    async def set_cap(self, limit: int) -> None:
        engine = create_engine(self.database_url)
        try:
            async with transaction(create_session_factory(engine)) as session:
                await session.execute(
                    update(Organization)
                    .where(Organization.id == self.org_id)
                    .values(max_concurrent_calls=limit)
                )
        finally:
            await engine.dispose()


def _prepare(data_dir: Path, database_url: str) -> tuple[Any, str]:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, emulators="off", demo_org=True
    )
    demo = asyncio.run(prepare_database(settings))
    assert demo is not None

    async def admin_token() -> str:
        engine = create_engine(database_url)
        try:
            async with transaction(create_session_factory(engine)) as session:
                _, token = await issue_token(session, role=Role.PLATFORM_ADMIN, org_id=None)
        finally:
            await engine.dispose()
        return token

    return demo, asyncio.run(admin_token())


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + WAIT_S * 3
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    data_dir = directory / "data"
    data_dir.mkdir()
    catalog = load_catalog()
    with ExitStack() as stack:
        network = stack.enter_context(node_network(2))
        database_url = stack.enter_context(pg_database())
        redis_url = stack.enter_context(private_redis(directory))
        demo, admin = _prepare(data_dir, database_url)
        managed = demo_managed_keys(catalog)
        keys: dict[str, list[dict[str, str]]] = {}
        for provider, fields in managed.items():
            entry = {"api_key": fields[catalog.get(provider).secret_fields[0]]}
            if "region" in fields:
                entry["region"] = fields["region"]
            keys.setdefault(provider, []).append(entry)
        keys["twilio"] = [{"api_key": demo.auth_token, "account_sid": demo.account_sid}]
        base_urls = stack.enter_context(emulators(network.host_address, keys, directory))
        managed_file = directory / "managed.json"
        managed_file.write_text(json.dumps(managed))
        managed_file.chmod(0o600)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        stack.callback(listener.close)
        lb_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
        env.update(
            VOXROUTE_DATA_DIR=str(data_dir),
            VOXROUTE_DATABASE_URL=database_url,
            VOXROUTE_REDIS_URL=redis_url,
            VOXROUTE_EMULATORS="off",
            VOXROUTE_DEMO_ORG="false",
            VOXROUTE_PROVIDER_BASE_URLS=json.dumps(base_urls),
            VOXROUTE_TWILIO_API_BASE_URL=base_urls["twilio"],
            VOXROUTE_MANAGED_KEYS_FILE=str(managed_file),
            VOXROUTE_PUBLIC_URL=lb_url,
            VOXROUTE_NODE_HEARTBEAT_S="1",
            VOXROUTE_NODE_DEAD_AFTER_S=str(DEAD_AFTER_S),
            VOXROUTE_HOLD_EXTEND_INTERVAL_S="1",
            VOXROUTE_LOOP_LAG_LIMIT_MS="5000",
            VOXROUTE_LOOP_BUSY_LIMIT_PCT="100",
        )
        nodes = stack.enter_context(
            stopping([start_node(network, i, env, directory) for i in range(2)])
        )
        for node in nodes:
            _wait_ready(node.url)
        balancer = stack.enter_context(haproxy(listener, nodes, directory))
        _wait_ready(balancer.url)
        yield Cluster(
            network,
            nodes,
            balancer,
            Line(demo.number, demo.account_sid, demo.auth_token),
            demo.org_id,
            demo.token,
            admin,
            base_urls["twilio"],
            database_url,
            env,
            directory,
        )


async def test_the_nodes_have_their_own_addresses_and_are_listed(cluster: Cluster) -> None:
    hosts = [node.url.split("//")[1].rsplit(":", 1)[0] for node in cluster.nodes]
    assert hosts == cluster.network.node_addresses
    if cluster.network.reason:
        pytest.fail(f"network namespaces refused: {cluster.network.reason}")
    async with cluster.api(cluster.nodes[0], cluster.admin) as api:
        listed = (await api.get("/admin/nodes")).json()
    addresses = sorted(n["address"] for n in listed if n["alive"])
    assert addresses == sorted(node.url.split("//")[1] for node in cluster.nodes)


async def test_webhook_on_one_node_stream_on_the_other_hang_up_through_the_first(
    cluster: Cluster,
) -> None:
    a, b = cluster.nodes
    call = HeldCall(cluster.line)
    await call.start(a.url, stream_url=cluster.stream_url(b), signed_url=cluster.balancer.url)
    live = await cluster.wait_status(call.call_sid, "connected")
    async with cluster.api(a, cluster.owner) as api:
        answer = await api.post(f"/calls/{live['id']}/hangup")
    assert answer.status_code == 200 and answer.json()["hung_up"] is True, answer.text
    await call.wait_closed()
    ended = await cluster.wait_status(call.call_sid, "ended")
    assert ended["end_reason"] == "hung_up_by_api"


async def test_one_orgs_cap_holds_across_both_nodes(cluster: Cluster) -> None:
    a, b = cluster.nodes
    await cluster.set_cap(2)
    calls = [HeldCall(cluster.line), HeldCall(cluster.line)]
    try:
        await calls[0].start(
            a.url, stream_url=cluster.stream_url(a), signed_url=cluster.balancer.url
        )
        await calls[1].start(
            b.url, stream_url=cluster.stream_url(b), signed_url=cluster.balancer.url
        )
        for call in calls:
            await cluster.wait_status(call.call_sid, "connected")
        for node in (a, b):
            refused = await voice_webhook(
                node.url,
                cluster.line,
                HeldCall(cluster.line).call_sid,
                signed_url=cluster.balancer.url,
            )
            assert '<Reject reason="busy"' in refused.text, refused.text
    finally:
        for call in calls:
            await call.hang_up()
        await cluster.set_cap(10)
    async with cluster.api(cluster.balancer, cluster.owner) as api:
        recorded = (await api.get("/calls", params={"limit": 200})).json()
    assert sum(c["end_reason"] == "org_concurrency_limit" for c in recorded) == 2


async def test_a_call_through_the_load_balancer(cluster: Cluster) -> None:
    call = HeldCall(cluster.line)
    await call.start(cluster.balancer.url)
    await cluster.wait_status(call.call_sid, "connected")
    await call.hang_up()
    ended = await cluster.wait_status(call.call_sid, "ended")
    assert ended["end_reason"] == "caller_hung_up"


CALLERS = 4
CALL_S = 2.0  # each call's length; calls start again as soon as one ends


async def test_each_node_restarted_in_turn_under_load_drops_no_call_and_bills_each_once(
    cluster: Cluster,
) -> None:
    stop = asyncio.Event()
    placed: list[str] = []
    cut: list[str] = []  # ended by the server before the caller hung up: dropped
    refused = 0

    async def caller() -> None:
        nonlocal refused
        while not stop.is_set():
            call = HeldCall(cluster.line)
            try:
                await call.start(cluster.balancer.url)
            except Refused:  # a draining node, before the balancer noticed
                refused += 1
                continue
            placed.append(call.call_sid)
            await asyncio.sleep(CALL_S)
            if call.closed.is_set():
                cut.append(call.call_sid)
            await call.hang_up()

    callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    try:
        for index in range(len(cluster.nodes)):
            await asyncio.sleep(CALL_S * 2)  # both nodes carry calls
            node = cluster.nodes[index]
            os.kill(node.proc.pid, signal.SIGTERM)  # the rolling restart
            assert await asyncio.to_thread(node.proc.wait, WAIT_S * 2) == 0
            restarted = await asyncio.to_thread(
                start_node, cluster.network, index, cluster.env, cluster.directory, 1, node.port
            )
            cluster.nodes[index] = restarted
            await asyncio.to_thread(_wait_ready, restarted.url)
    finally:
        stop.set()
        await asyncio.gather(*callers)

    assert cut == [] and len(placed) >= CALLERS * 4
    async with cluster.api(cluster.balancer, cluster.owner) as api:
        calls: dict[str, Any] = {}
        for offset in range(0, 10_000, 200):  # every page (200 rows at most each)
            page = (await api.get("/calls", params={"limit": 200, "offset": offset})).json()
            calls.update((c["provider_call_id"], c) for c in page)
            if len(page) < 200:
                break
        entries = (await api.get("/billing/ledger", params={"limit": 500})).json()["entries"]
        balance = (await api.get("/billing/balance")).json()
    ours = [calls[sid] for sid in placed]
    assert {c["end_reason"] for c in ours} == {"caller_hung_up"}
    charged = sorted(e["call_id"] for e in entries if e["kind"] == "call_charge")
    assert sorted(c["id"] for c in ours) == [i for i in charged if i in {c["id"] for c in ours}]
    assert all(charged.count(c["id"]) == 1 for c in ours)
    assert balance["reserved"] == 0
    print(
        f"rolling restart: {len(placed)} calls, none dropped, {refused} refused busy while draining"
    )


async def test_a_node_killed_mid_call_is_settled_once_and_hung_up_at_the_carrier(
    cluster: Cluster,
) -> None:
    a, b = cluster.nodes
    call = HeldCall(cluster.line)
    await call.start(a.url, stream_url=cluster.stream_url(b), signed_url=cluster.balancer.url)
    live = await cluster.wait_status(call.call_sid, "connected")
    await asyncio.sleep(2.0)  # a hold renewal or two record it alive (not a bound)
    b.kill()
    await call.wait_closed()
    lost = await cluster.wait_status(call.call_sid, "ended")
    assert lost["end_reason"] == "server_lost"

    async with cluster.api(a, cluster.owner) as api:
        deadline = time.monotonic() + WAIT_S
        while (await api.get("/billing/balance")).json()["reserved"] != 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        entries = (await api.get("/billing/ledger", params={"limit": 500})).json()["entries"]
        await asyncio.sleep(DEAD_AFTER_S)  # more reaper rounds must not charge again
        again = (await api.get("/billing/ledger", params={"limit": 500})).json()["entries"]
    assert again == entries
    charges = [e for e in entries if e["kind"] == "call_charge" and e["call_id"] == live["id"]]
    assert len(charges) == 1 and charges[0]["amount_micros"] < 0
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        updates = (await http.get(cluster.twilio_url + "/_emulator/calls")).json()["calls"]
    hung_up = [u for u in updates if u["call_sid"] == call.call_sid]
    assert [u["status"] for u in hung_up] == ["completed"]
