"""NodeBalancer data plane against a served backend: what each kind of probe sees, and a node's verdicts."""

import http.server
import threading

import pytest

from linode_emu.balancer import BalancerProxy, CheckSettings, NodeView, probe


def node(node_id, mode="accept", status="UP", address="127.0.0.1:1"):
    return NodeView(id=node_id, address=address, mode=mode, status=status)


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
