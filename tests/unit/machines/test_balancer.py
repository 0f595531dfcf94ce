"""NodeBalancer data plane: which node gets a connection, and health-check verdicts."""

import http.server
import threading

import pytest

from linode_emu.balancer import (
    MIN_CHECK_INTERVAL,
    BalancerProxy,
    CheckSettings,
    NodeView,
    check_settings,
    eligible,
    probe,
)


def node(node_id, mode="accept", status="UP", address="127.0.0.1:1"):
    return NodeView(id=node_id, address=address, mode=mode, status=status)


@pytest.mark.parametrize(
    ("nodes", "check", "expected"),
    [
        ([node(1), node(2)], "http", [1, 2]),
        ([node(1, status="DOWN"), node(2)], "http", [2]),
        ([node(1, mode="drain"), node(2, mode="reject"), node(3)], "http", [3]),
        ([node(1, mode="backup"), node(2)], "http", [2]),
        ([node(1, mode="backup"), node(2, status="DOWN")], "http", [1]),
        ([node(1, status="unknown")], "http", []),
        ([node(1, status="unknown")], "none", [1]),
    ],
)
def test_eligible_nodes(nodes, check, expected):
    assert [n.id for n in eligible(nodes, check)] == expected


@pytest.fixture
def backend_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"healthy" if self.path == "/ok" else b"sick"
            self.send_response(200 if self.path == "/ok" else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_kinds(backend_server):
    target = node(1, address=backend_server)
    assert probe(target, CheckSettings(check="connection", timeout=1))
    assert probe(target, CheckSettings(check="http", path="/ok", timeout=1))
    assert not probe(target, CheckSettings(check="http", path="/bad", timeout=1))
    assert probe(target, CheckSettings(check="http_body", path="/ok", body="healthy", timeout=1))
    assert not probe(target, CheckSettings(check="http_body", path="/ok", body="other", timeout=1))
    assert not probe(node(2, address="127.0.0.1:1"), CheckSettings(check="connection", timeout=1))


def test_a_node_goes_down_after_the_configured_attempts_and_up_at_once(backend_server):
    reports = []
    nodes = [node(1, status="UP", address="127.0.0.1:1")]
    proxy = BalancerProxy("127.0.0.1", 0, CheckSettings(check="connection", attempts=2, timeout=1),
                          nodes=lambda: nodes, report=lambda *verdict: reports.append(verdict))
    try:
        proxy.check_once()
        assert reports == []
        proxy.check_once()
        assert reports == [(1, "DOWN")]
        nodes[:] = [node(1, status="DOWN", address=backend_server)]
        proxy.check_once()
        assert reports[-1] == (1, "UP")
    finally:
        proxy.stop()


def test_the_check_interval_follows_the_time_scale_down_to_the_servers_tick():
    config = {"protocol": "http", "check": "http", "check_interval": 5, "check_timeout": 3, "check_attempts": 2,
              "check_path": "/healthz"}
    assert check_settings(config).interval == 5
    assert check_settings(config, time_scale=0.5).interval == 2.5
    assert check_settings(config, time_scale=0.01).interval == MIN_CHECK_INTERVAL == 0.25
