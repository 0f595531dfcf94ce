"""NodeBalancer data plane: a real TCP proxy per NodeBalancer config, with health checks.

Each config listens on its NodeBalancer's loopback address and the config's port, checks its nodes
(``none``, ``connection``, ``http``, ``http_body``; interval, timeout, attempts), reports each node's
status (UP/DOWN) back to the backend, and proxies new connections round-robin to ``accept`` nodes that
are UP (``backup`` nodes only while no accept node is UP). ``drain`` and ``reject`` nodes get no new
connections; connections already open to a draining node run to their end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import itertools
import socket
import socketserver
import threading
from dataclasses import dataclass

from linode_emu import delays

BUFFER = 65536
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MIN_CHECK_INTERVAL = delays.real("tick")  # the server's tick: nodes and verdicts change no faster than that


@dataclass(frozen=True)
class NodeView:
    """A node as the data plane sees it."""

    id: int
    address: str  # "ip:port"
    mode: str  # accept | reject | drain | backup
    status: str  # unknown | UP | DOWN

    def host_port(self):
        host, _, port = self.address.rpartition(":")
        return host, int(port)


@dataclass(frozen=True)
class CheckSettings:
    """A config's health check, with Linode's field meanings (``check_interval`` in Linode's seconds, run
    at ``time_scale``; ``timeout`` in real seconds)."""

    protocol: str = "http"
    check: str = "connection"
    check_interval: float = 5.0
    time_scale: float = 1.0
    timeout: float = 3.0
    attempts: int = 2
    path: str = "/"
    body: str = ""

    @property
    def interval(self):
        """Real seconds between two checks: ``check_interval`` at the time scale."""
        return delays.check_interval(self.check_interval, self.time_scale)


def probe(node, settings):
    """One health check of ``node``: True when it passed."""
    host, port = node.host_port()
    try:
        if settings.check == "connection":
            with socket.create_connection((host, port), timeout=delays.io_timeout(settings.timeout)):
                return True
        connection = http.client.HTTPConnection(host, port, timeout=delays.io_timeout(settings.timeout))
        try:
            connection.request("GET", settings.path or "/")
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        if settings.check == "http_body":
            return response.status < 400 and settings.body in body
        return response.status < 400
    except (OSError, http.client.HTTPException):
        return False


def eligible(nodes, check):
    """The nodes that may take a new connection now."""
    up = [n for n in nodes if check == "none" or n.status == "UP"]
    accept = [n for n in up if n.mode == "accept"]
    return accept or [n for n in up if n.mode == "backup"]


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.balancer.forward(self.request)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class BalancerProxy:
    """The data plane of one NodeBalancer config.

    ``nodes()`` returns the config's current nodes (as NodeViews); ``report(node_id, status)`` records
    a status change in the backend. Both are called from this proxy's threads.
    """

    def __init__(self, address, port, settings, nodes, report):
        self.settings = settings
        self.nodes = nodes
        self.report = report
        self._failures = {}
        self._verdicts = {}  # node id -> this proxy's last health verdict (what it reported to the backend)
        self._cursor = itertools.count()
        self._stop = threading.Event()
        self._server = _Server((address, port), _Handler, bind_and_activate=True)
        self._server.balancer = self
        self._threads = []

    def start(self):
        serve = {"poll_interval": delays.real("http_poll")}
        for target, kwargs in ((self._server.serve_forever, serve), (self._check_loop, {})):
            thread = threading.Thread(target=target, kwargs=kwargs, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        if self._threads:  # shutdown() would wait forever for a serve_forever() that never ran
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=delays.real("thread_join"))

    # ------------------------------------------------------------------ health checks

    def _check_loop(self):
        while not self._stop.is_set():
            self.check_once()
            self._stop.wait(delays.check_interval(self.settings.check_interval, self.settings.time_scale))

    def check_once(self):
        """Check every node once and report the statuses that changed."""
        if self.settings.check == "none":
            return
        for node in self.nodes():
            status = self._judge(node, probe(node, self.settings))
            self._verdicts[node.id] = status
            if status != node.status:
                self.report(node.id, status)

    def _judge(self, node, passed):
        if passed:
            self._failures[node.id] = 0
            return "UP"
        failures = self._failures.get(node.id, 0) + 1
        self._failures[node.id] = failures
        return "DOWN" if failures >= self.settings.attempts else node.status

    # ------------------------------------------------------------------ proxying

    def current_nodes(self):
        """The nodes, each with this proxy's own latest verdict: the data plane acts on its checks at once,
        as the API reports them (the backend's copy of a status may lag a tick behind)."""
        return [dataclasses.replace(n, status=self._verdicts.get(n.id, n.status)) for n in self.nodes()]

    def pick(self):
        """Round-robin over the eligible nodes; a node that refuses is skipped for this connection."""
        candidates = eligible(self.current_nodes(), self.settings.check)
        start = next(self._cursor)
        for offset in range(len(candidates)):
            node = candidates[(start + offset) % len(candidates)]
            try:
                return socket.create_connection(node.host_port(), timeout=delays.real("node_connect"))
            except OSError:
                continue
        return None

    def forward(self, client):
        upstream = self.pick()
        if upstream is None:
            if self.settings.protocol == "http":
                client.sendall(UNAVAILABLE)
            return
        upstream.settimeout(None)
        with upstream:
            pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            pump.start()
            _pipe(client, upstream)
            pump.join()


def _pipe(source, sink):
    """Copy bytes until ``source`` closes, then half-close ``sink``."""
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def check_settings(config, time_scale=1.0):
    """A config's JSON (as the API shows it) → CheckSettings, run at ``time_scale`` (``--time-scale``): its
    interval is a simulated delay (see :mod:`linode_emu.delays`)."""
    return CheckSettings(
        protocol=config["protocol"],
        check=config["check"],
        check_interval=float(config["check_interval"]),
        time_scale=time_scale,
        timeout=delays.io_timeout(config["check_timeout"]),
        attempts=int(config["check_attempts"]),
        path=config.get("check_path") or "/",
        body=config.get("check_body") or "",
    )


class Balancers:
    """Keeps one BalancerProxy per NodeBalancer config of the backend, and nothing else, running.

    The data plane never waits for the API: each :meth:`reconcile` (the server's ticker, every 0.25 s)
    copies every config's nodes out of the backend, and the proxies pick from that copy (with their own
    latest health verdicts, which they report to the backend). A busy backend
    (a disk deployed from an image, under its lock) so never stalls a proxied request; like a real
    NodeBalancer, a node change takes effect a moment after the API accepted it.
    """

    def __init__(self, backend, log):
        self.backend = backend
        self.log = log
        self.proxies = {}  # config id -> (key, BalancerProxy)
        self.views = {}  # config id -> [NodeView], as last copied from the backend

    def reconcile(self):
        wanted = {}
        for config in self.backend.balancer_configs():
            key = (config["address"], config["port"], check_settings(config, self.backend.policy.time_scale))
            wanted[config["id"]] = key
            self.views[config["id"]] = [_node_view(node) for node in self.backend.balancer_nodes(config["id"])]
        for config_id in list(self.proxies):
            if self.proxies[config_id][0] != wanted.get(config_id):
                self.proxies.pop(config_id)[1].stop()
        for config_id in set(self.views) - set(wanted):
            del self.views[config_id]
        for config_id, key in wanted.items():
            if config_id not in self.proxies:
                self._start(config_id, key)

    def _start(self, config_id, key):
        address, port, settings = key
        try:
            proxy = BalancerProxy(
                address,
                port,
                settings,
                nodes=lambda: self.views.get(config_id, []),
                report=self.backend.set_node_status,
            ).start()
        except OSError as err:
            self.log(f"NodeBalancer config {config_id}: cannot listen on {address}:{port}: {err}")
            return
        self.proxies[config_id] = (key, proxy)

    def close(self):
        for _key, proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()


def _node_view(node):
    return NodeView(id=node["id"], address=node["address"], mode=node["mode"], status=node["status"])
