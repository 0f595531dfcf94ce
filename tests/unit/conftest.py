"""The unit tier's rule (no daemons) and the fixtures shared by the unit tests of the roll."""

import contextlib
import email.message
import io
import os
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from pathlib import Path

# croniter, which Salt's scheduler imports (salt_immutable.api loads it), runs ``file`` on the interpreter when it is
# first imported (platform.architecture()): imported here, before any test is guarded.
import croniter  # noqa: F401
import pytest

NO_DAEMONS = "unit tests start no daemons: move this test to tests/functional"

# What starting a server, a process, a namespace or a mount takes (namespaces and mounts are made by processes:
# ``unshare``, ``mount``). Popen's and socket's are patched on the class, so ``from subprocess import Popen`` is
# caught too; names a Python lacks (os.unshare before 3.12) are skipped.
GUARDED = (
    (socket.socket, "bind"),
    (socket.socket, "listen"),
    (subprocess.Popen, "_execute_child"),
    (os, "fork"),
    (os, "forkpty"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
    (os, "system"),
    (os, "unshare"),
)


def _refuse(name):
    def refused(*args, **kwargs):
        pytest.fail(f"{NO_DAEMONS} ({name} called)", pytrace=True)

    return refused


@contextlib.contextmanager
def no_daemons():
    """Within the block, binding or listening on a socket and starting a process fail the test with
    :data:`NO_DAEMONS`. The failure is pytest's (a BaseException), so no ``except Exception`` swallows it."""
    saved = [(owner, name, getattr(owner, name)) for owner, name in GUARDED if hasattr(owner, name)]
    for owner, name, _ in saved:
        setattr(owner, name, _refuse(f"{getattr(owner, '__name__', owner)}.{name}"))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# The rule holds for every phase of a unit test, fixtures of any scope included: hooks rather than an autouse fixture,
# which would set up after a module- or session-scoped server it should refuse. A conftest's runtest hooks run for
# the tests under its folder only, so tests/functional, run in the same session, is not guarded.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with no_daemons():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with no_daemons():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    with no_daemons():
        yield


IP = "127.0.0.1"
APP_PORT = 8080


@pytest.fixture(autouse=True)
def _restart_event_listener():
    """Unit tests talk to no Salt daemon: keep pytest-salt-factories' autouse fixture of the same name from starting
    its session-wide event listener (a TCP server whose stop() waits on threads that sleep 1 s at a time)."""
    yield


@pytest.fixture
def dead_pid():
    """A pid no process has: one above the kernel's ``pid_max`` (a reaped child's pid would take a process)."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


class HealthyApp:
    """What ``urllib.request.urlopen`` answers: 200 from the app on ``IP:APP_PORT``, connection refused elsewhere."""

    def __init__(self):
        self.urls = []

    def __call__(self, url, *args, **kwargs):
        self.urls.append(url)
        if urllib.parse.urlsplit(url).netloc != f"{IP}:{APP_PORT}":
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        return urllib.response.addinfourl(io.BytesIO(b""), email.message.Message(), url, code=200)


@pytest.fixture
def app_port(monkeypatch):
    """One healthy app: every fake server's private address points at it (the health checks' HTTP is faked)."""
    monkeypatch.setattr(urllib.request, "urlopen", HealthyApp())
    return APP_PORT
