"""Fixtures shared by the unit tests of the roll (test_roll, test_fleetops, test_stateful)."""

import http.server
import threading

import pytest

IP = "127.0.0.1"


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
