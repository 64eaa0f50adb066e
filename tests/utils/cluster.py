"""Several `voxroute serve` nodes on one machine, each on its own address, behind HAProxy.

Each node runs in a network namespace of its own, joined to the host by a veth pair on one
bridge (`ip netns`, iproute2), so node A is 10.x.y.2 and node B 10.x.y.3 as two hosts would
be. PostgreSQL and a private Redis are reached over unix sockets (the filesystem is shared
across network namespaces); the provider emulators listen on the bridge's host address; the
load balancer (HAProxy) runs on the host on a socket the test bound to port 0 (`fd@N`).
Where network namespaces are refused, the nodes use 127.0.0.2 and 127.0.0.3 instead
(`Network.reason` says why).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

PG_SOCKET_DIR = "/var/run/postgresql"
PG_ADMIN_DSN = os.environ.get("VOXROUTE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
START_S = 180.0  # a hang guard for start-ups on a shared machine, not a timing bound


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@dataclass
class Network:
    """Node addresses; `host_address` is the host's side (emulators listen there)."""

    host_address: str
    node_addresses: list[str]
    namespaces: list[str] = field(default_factory=list)
    bridge: str | None = None
    reason: str = ""  # why namespaces were not used, if they were not

    def prefix(self, index: int) -> list[str]:
        """The argv prefix that runs a command as node `index`."""
        if self.namespaces:
            return ["ip", "netns", "exec", self.namespaces[index]]
        return []


@contextmanager
def node_network(count: int) -> Iterator[Network]:
    suffix = secrets.token_hex(2)
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250) + 1}"
    bridge = f"vxb{suffix}"
    namespaces: list[str] = []
    try:
        _run("ip", "link", "add", bridge, "type", "bridge")
    except (OSError, subprocess.CalledProcessError) as exc:
        reason = getattr(exc, "stderr", "") or str(exc)
        yield Network("127.0.0.1", [f"127.0.0.{i + 2}" for i in range(count)], reason=reason)
        return
    try:
        _run("ip", "addr", "add", f"{subnet}.1/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        for i in range(count):
            ns, outer, inner = f"vxn{suffix}{i}", f"vxa{suffix}{i}", f"vxp{suffix}{i}"
            _run("ip", "netns", "add", ns)
            namespaces.append(ns)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", outer, "master", bridge)
            _run("ip", "link", "set", outer, "up")
            _run("ip", "link", "set", inner, "netns", ns)
            inside = ["ip", "netns", "exec", ns, "ip"]
            _run(*inside, "addr", "add", f"{subnet}.{i + 2}/24", "dev", inner)
            _run(*inside, "link", "set", inner, "up")
            _run(*inside, "link", "set", "lo", "up")
            _run(*inside, "route", "add", "default", "via", f"{subnet}.1")
        yield Network(
            f"{subnet}.1", [f"{subnet}.{i + 2}" for i in range(count)], namespaces, bridge
        )
    finally:
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A redis-server of this test only, on a unix socket (no TCP port at all)."""
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is not installed"
    path = directory / "redis.sock"
    proc = subprocess.Popen(  # noqa: S603
        [server, "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
        + ["--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        yield f"unix://{path}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, reached over its unix socket."""
    name = f"vxr_nodes_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@/{name}?host={PG_SOCKET_DIR}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _private_file(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value))
    path.chmod(0o600)
    return path


@contextmanager
def emulators(host: str, keys: dict[str, object], directory: Path) -> Iterator[dict[str, str]]:
    """`voxroute emulators` on `host`; the provider → base URL map."""
    keys_file = _private_file(directory / "emulator-keys.json", keys)
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "voxroute.cli.main", "emulators", "--host", host]
        + ["--keys-file", str(keys_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "voxroute emulators did not start"
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@dataclass
class Node:
    index: int
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """kill -9 the node: the server and its workers, nothing cleaned up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def start_node(
    network: Network,
    index: int,
    env: dict[str, str],
    directory: Path,
    workers: int = 1,
    port: int = 0,
) -> Node:
    """Node `index` on its address; `port` 0 binds any free port. A restarted node takes its
    old port back: in its own network namespace no one else can hold it."""
    url_file = directory / f"node{index}-{time.monotonic_ns()}.url"
    log = directory / f"node{index}.log"
    address = network.node_addresses[index]
    argv = [*network.prefix(index), sys.executable, "-m", "voxroute.cli.main", "serve"]
    argv += ["--host", address, "--port", str(port), "--url-file", str(url_file)]
    argv += ["--workers", str(workers)]
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            argv,
            env={**env, "VOXROUTE_NODE_NAME": f"node{index}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_S
    while not url_file.exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "node did not start"
        time.sleep(0.1)
    return Node(index, proc, url_file.read_text().strip(), log)


@dataclass
class Balancer:
    url: str
    proc: subprocess.Popen[bytes] | None = None


@contextmanager
def haproxy(listener: socket.socket, nodes: list[Node], directory: Path) -> Iterator[Balancer]:
    """HAProxy from deploy/haproxy.cfg, bound to `listener`, balancing over `nodes`."""
    sample = Path(__file__).parents[2] / "deploy" / "haproxy.cfg"
    config = []
    for line in sample.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("server "):
            continue
        if stripped.startswith("bind "):
            line = f"    bind fd@{listener.fileno()}"
        config.append(line)
    for node in nodes:
        config.append(f"    server node{node.index} {node.url.split('//')[1]} check")
    path = directory / "haproxy.cfg"
    path.write_text("\n".join(config) + "\n")
    binary = shutil.which("haproxy")
    assert binary is not None
    proc = subprocess.Popen(  # noqa: S603
        [binary, "-db", "-f", str(path)],
        pass_fds=(listener.fileno(),),
        stdout=(directory / "haproxy.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    host, port = listener.getsockname()[:2]
    try:
        yield Balancer(f"http://{host}:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def stopping(nodes: list[Node]) -> Iterator[list[Node]]:
    """Kill whatever node is still running at the end."""
    with ExitStack():
        try:
            yield nodes
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait()
