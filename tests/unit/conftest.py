"""Fixtures shared by the unit tests of the roll (test_roll, test_fleetops, test_stateful)."""

import http.server
import threading

import pytest

IP = "127.0.0.1"

# How often the fake app's serve_forever() looks at its shutdown flag: shutdown() waits up to this long, once per
# module (socketserver's default of 0.5 s cost each module using ``app_port`` half a second of teardown).
POLL_INTERVAL = 0.01


@pytest.fixture(autouse=True)
def _restart_event_listener():
    """Unit tests talk to no Salt daemon: keep pytest-salt-factories' autouse fixture of the same name from starting
    its session-wide event listener (a TCP server whose stop() waits on threads that sleep 1 s at a time)."""
    yield


@pytest.fixture(scope="module")
def app_port():
    """One healthy app on loopback: every fake server's private address points at it."""

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((IP, 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()
