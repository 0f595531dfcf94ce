"""``python -m linode_emu`` as the lab runs it: its NodeBalancers' listeners live and die with it.

NodeBalancer proxies run only with machines (the ticker makes the world move on its own), so the emulator
runs with namespace machines, none of which is booted: the NodeBalancer's node is a TCP echo server of the
test's own.
"""

import contextlib
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.support.machines import REGION, port_open, wait_for

TOKEN = "process-token"
HOST = "127.0.0.1"


def free_port(host=HOST):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_server():
    server = socketserver.ThreadingTCPServer((HOST, 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def emulator_process(tmp_path):
    """The emulator started as ``salt_immutable.lab`` starts it (own session, token from the environment);
    killed by its pid at teardown if the test left it running."""
    port = free_port()
    with open(tmp_path / "emulator.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "linode_emu", "--host", HOST, "--port", str(port), "--state-dir",
             str(tmp_path / "state"), "--machines", "namespace", "--time-scale", "0.05"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "LINODE_EMU_TOKEN": TOKEN},
        )
    try:
        wait_for(lambda: process.poll() is not None or port_open(HOST, port), timeout=30, what="the emulator")
        assert process.poll() is None, (tmp_path / "emulator.log").read_text()
        process.api_url = f"http://{HOST}:{port}/v4"
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def nodebalancer_to(api_url, node_address):
    """A NodeBalancer with one TCP config (no health check) sending to ``node_address``: (address, port)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    nodebalancer = session.post(f"{api_url}/nodebalancers", json={"region": REGION, "label": "process-nb"}).json()
    port = free_port(nodebalancer["ipv4"])
    config = session.post(
        f"{api_url}/nodebalancers/{nodebalancer['id']}/configs", json={"port": port, "protocol": "tcp", "check": "none"}
    ).json()
    session.post(
        f"{api_url}/nodebalancers/{nodebalancer['id']}/configs/{config['id']}/nodes",
        json={"label": "echo", "address": node_address, "mode": "accept"},
    ).raise_for_status()
    return nodebalancer["ipv4"], port


def echoed(address, port):
    """An open connection through the NodeBalancer that has carried one round trip, or None."""
    try:
        connection = socket.create_connection((address, port), timeout=2)
        connection.sendall(b"ping")
        if connection.recv(4) == b"ping":
            return connection
        connection.close()
    except OSError:
        pass
    return None


def test_sigterm_stops_the_emulator_and_its_nodebalancer_listeners(emulator_process, echo_server):
    address, port = nodebalancer_to(emulator_process.api_url, echo_server)
    held = wait_for(lambda: echoed(address, port), timeout=10, interval=0.1, what="the NodeBalancer to proxy")
    with held:
        os.kill(emulator_process.pid, signal.SIGTERM)
        started = time.monotonic()
        assert emulator_process.wait(timeout=15) == 0
        stopped_in = time.monotonic() - started
        assert not port_open(address, port)
        held.settimeout(2)
        with contextlib.suppress(ConnectionResetError):
            assert held.recv(4) == b""  # the proxied connection ended with the emulator
    assert stopped_in < 10
