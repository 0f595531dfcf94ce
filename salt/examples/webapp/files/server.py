#!/usr/bin/env python3
"""The example web app: /healthz answers "ok"; / tells which release this server runs."""

import http.server
import json
import socket

RELEASE_FILE = "/etc/immutable-release"
CONFIG_FILE = "/etc/webapp/webapp.conf"


def read_port():
    with open(CONFIG_FILE, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition("=")
            if key.strip() == "port":
                return int(value)
    return 8080


def release():
    try:
        with open(RELEASE_FILE, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            info = {"host": socket.gethostname(), "release": release()}
            body = (json.dumps(info) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    address = socket.gethostbyname(socket.gethostname())
    http.server.ThreadingHTTPServer((address, read_port()), Handler).serve_forever()
