"""The HTTP face of the emulator: a threaded HTTP/1.1 server, authentication, rate limits, fault
injection, and the one place where an ``EmuApiError`` becomes Linode's JSON error answer.
"""

from __future__ import annotations

import contextlib
import http
import ipaddress
import json
import logging
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from linode_emu import delays, routes
from linode_emu.backend import Backend
from linode_emu.balancer import Balancers
from linode_emu.control import PREFIX as CONTROL_PREFIX
from linode_emu.control import Control, RequestLog
from linode_emu.errors import EmuApiError, not_found
from linode_emu.faults import TIMEOUT, Fault, FaultInjector
from linode_emu.machines import make_driver
from linode_emu.ratelimit import RateLimiter
from linode_emu.store import StateStore
from linode_emu.transitions import TransitionPolicy
from linode_emu.wire import UPLOAD_PREFIX, ApiRequest

log = logging.getLogger(__name__)

API_PREFIXES = ("/v4beta", "/v4")


@dataclass
class Response:
    """What to send back; ``payload`` None means: close the connection without an answer."""

    status: int
    payload: dict | None
    headers: dict = field(default_factory=dict)


class EmulatorApp:
    """Everything one request goes through, without sockets (the HTTP handler only moves bytes)."""

    def __init__(
        self,
        backend: Backend,
        control: Control,
        limiter: RateLimiter,
        faults: FaultInjector,
        request_log: RequestLog,
        token: str | None,
        stopping: threading.Event,
    ):
        self.backend = backend
        self._control = control
        self._limiter = limiter
        self._faults = faults
        self._log = request_log
        self._token = token
        self._stopping = stopping

    def handle(self, method: str, target: str, headers, body: bytes) -> Response:
        """Answer one request; ``headers`` is any mapping with ``get``."""
        started = time.time()
        parts = urlsplit(target)
        path = unquote(parts.path)
        if path.startswith(UPLOAD_PREFIX + "/"):
            return self._receive_upload(method, path[len(UPLOAD_PREFIX) + 1 :], body)
        is_control = path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")
        api_path = None if is_control else _strip_version(path)
        route, params, path_known = (
            routes.match(method, api_path) if api_path is not None else (None, {}, False)
        )
        extra_headers: dict = {}
        try:
            if is_control:
                return Response(200, self._control.handle(method, path[len(CONTROL_PREFIX) :], body))
            request = ApiRequest(
                method,
                api_path or path,
                params,
                dict(parse_qsl(parts.query)),
                body,
                headers.get("X-Filter"),
                headers.get("Host"),
            )
            response = self._serve(request, route, path_known, headers, extra_headers)
        except EmuApiError as err:
            response = Response(err.status, err.to_json(), {**extra_headers, **err.headers})
        except Exception:  # an emulator bug: answer as the API's 500 would, keep the traceback
            log.exception("%s %s failed", method, target)
            error = EmuApiError(500, "Internal Server Error")
            response = Response(error.status, error.to_json(), extra_headers)
        finally:
            if not is_control:
                status = response.status if response.payload is not None else TIMEOUT
                self._log.record(method, path, route.key if route else f"{method} {path}", status, started)
        return response

    def _serve(self, request: ApiRequest, route, path_known: bool, headers, extra_headers: dict) -> Response:
        """Authenticate, rate-limit, inject faults, and run the handler of ``route``.

        ``extra_headers`` receives the X-RateLimit headers so that error answers carry them too.
        """
        self._authenticate(headers)
        extra_headers.update(
            self._limiter.hit(route.key if route else "unmatched", route.rate_class if route else "default")
        )
        fault = self._faults.take(request.method, request.path)
        if fault and fault.when == "before":
            return self._fault_response(fault, extra_headers)
        if route is None:
            raise EmuApiError(405, "Method Not Allowed") if path_known else not_found()
        if fault is None:
            return Response(200, route.handler(self.backend, request), extra_headers)
        with contextlib.suppress(EmuApiError):  # the fault's answer replaces the API's
            route.handler(self.backend, request)
        return self._fault_response(fault, extra_headers)

    def _receive_upload(self, method: str, target: str, body: bytes) -> Response:
        """``PUT /_uploads/images/<image id>/<signature>``: an image file, signed instead of authenticated
        (like Linode's pre-signed upload URLs). Answers 200 ``{}`` or the error as the API would."""
        image_id, _, signature = target.rpartition("/")
        try:
            if method != "PUT":
                raise EmuApiError(405, "Method Not Allowed")
            self.backend.receive_image_upload(image_id, signature, body)
        except EmuApiError as err:
            return Response(err.status, err.to_json(), err.headers)
        return Response(200, {})

    def _authenticate(self, headers) -> None:
        if self._token is not None and headers.get("Authorization") != f"Bearer {self._token}":
            raise EmuApiError(401, "Invalid Token")

    def _fault_response(self, fault: Fault, rate_headers: dict) -> Response:
        self._stopping.wait(delays.requested(fault.delay))
        if fault.status == TIMEOUT:
            return Response(0, None)
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return Response(fault.status, _fault_error(fault.status).to_json(), {**rate_headers, **extra})


def _fault_error(status: int) -> EmuApiError:
    if status == 429:
        return EmuApiError(429, "Too many requests")
    try:
        return EmuApiError(status, http.HTTPStatus(status).phrase)
    except ValueError:
        return EmuApiError(status, "Injected fault")


def _strip_version(path: str) -> str | None:
    """The path after ``/v4`` or ``/v4beta`` (no trailing slash), or None for other paths."""
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            rest = path[len(prefix) :].rstrip("/")
            return rest or "/"
    return None


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "linode_emu"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.track(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.app.handle(self.command, self.path, self.headers, body)
        if response.payload is None:
            self.close_connection = True
            return
        data = json.dumps(response.payload).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so that stopping also ends idle keep-alive connections."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address, app: EmulatorApp):
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _RequestHandler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), which can stall; not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
            if self._closing:
                _hang_up(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            self._closing = True
            for connection in self._connections:
                _hang_up(connection)

    def handle_error(self, request, client_address):
        # A client that went away (or a connection ended by stop()) is not an emulator error.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def _hang_up(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class UnsafeListenError(ValueError):
    """The emulator was asked to serve beyond this host without ``allow_remote``."""


def check_listen_host(host: str, allow_remote: bool) -> None:
    """Refuse a host that is not loopback (127.0.0.0/8, ::1, localhost) unless ``allow_remote``: whoever
    reaches the API boots machines that run as root on this host."""
    if allow_remote or host == "localhost" or _is_loopback(host):
        return
    raise UnsafeListenError(
        f"refusing to listen on {host!r}: not a loopback address (127.0.0.0/8, ::1 or localhost); "
        "whoever reaches the API runs machines as root on this host (--allow-remote to serve it anyway)"
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmulatorServer:
    """The emulator served from a thread of this process.

    ``start()`` binds (port 0 picks a free port), serves in a thread and returns ``self`` when ready;
    ``url`` is ``http://host:port`` and ``api_url`` is ``url + "/v4"``; ``stop()`` ends the server and
    every connection. Also a context manager. ``state_dir`` holds ``state.json``; a new server on the
    same directory carries on with the same objects.

    ``host`` must be loopback unless ``allow_remote`` (UnsafeListenError). With ``namespace`` machines a
    token is required: without one, a random one is made (``token`` tells it). ``hide``: host paths the
    machines must not see, besides the emulator's state dir and what they never see.
    """

    def __init__(
        self,
        state_dir,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        token: str | None = None,
        rate_limits: bool = True,
        policy: str = "timed",
        reads: int = 1,
        machines: str = "none",
        clock=None,
        hide=(),
        allow_remote: bool = False,
    ):
        check_listen_host(host, allow_remote)
        self._address = (host, port)
        self._stopping = threading.Event()
        default_policy = TransitionPolicy(policy=policy, reads=reads, time_scale=time_scale)
        self.machines = machines
        if token is None and machines == "namespace":
            token = secrets.token_urlsafe(24)
        self.token = token
        driver = make_driver(machines, state_dir, hide=hide)
        self.backend = Backend(StateStore(state_dir), clock=clock, policy=default_policy, driver=driver)
        self.balancers = Balancers(self.backend, log=log.warning)
        limiter = RateLimiter(enabled=rate_limits, clock=clock)
        faults = FaultInjector()
        request_log = RequestLog()
        control = Control(self.backend, faults, limiter, request_log, default_policy, rate_limits)
        self._app = EmulatorApp(self.backend, control, limiter, faults, request_log, token, self._stopping)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, self._app)
        self.backend.save_in_background()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": delays.real("http_poll")},
            name="linode_emu",
            daemon=True,
        )
        self._thread.start()
        if self.machines != "none":
            self.backend.resume_machines()
            self._ticker = threading.Thread(target=self._tick, name="linode_emu-tick", daemon=True)
            self._ticker.start()
        return self

    def _tick(self) -> None:
        """With machines, the world moves on its own: jobs finish and NodeBalancers follow the API."""
        while not self._stopping.wait(delays.real("tick")):
            self.backend.tick()
            self.balancers.reconcile()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v4"

    def stop(self) -> None:
        """Stop serving, end open connections and wait for their threads. Safe to call twice."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        self.balancers.close()
        self.backend.close_machines()
        self.backend.stop_saving_in_background()
        self._httpd = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
