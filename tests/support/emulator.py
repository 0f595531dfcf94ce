"""pytest fixtures for the Linode API emulator (``linode_emu``), loaded by ``tests/conftest.py``.

Fixtures (function scope; every server is stopped after its test, also when the test fails):

``emulator``
    A started :class:`linode_emu.server.EmulatorServer` on 127.0.0.1 (free port), state in
    ``tmp_path / "emulator"``, token ``EMULATOR_TOKEN``, policy ``timed`` with ``time_scale=0.01``
    (provisioning 0.1 s, boot 0.08 s, capture 0.6 s), rate limits off. Use ``emulator.api_url`` as
    ``base_url`` and ``emulator.url`` for the control API.
``emulator_factory``
    ``emulator_factory(state_dir=None, **kwargs)`` starts another server with the same defaults,
    overridden by ``kwargs`` (any ``EmulatorServer`` argument: ``token``, ``rate_limits``, ``policy``,
    ``reads``, ``time_scale``, ...). Passing the ``state_dir`` of a stopped server restarts it.
``emulator_control``
    An :class:`EmulatorControl` for ``emulator``: faults, failures, policies, statistics.
``linode_client``
    ``linode_api4.LinodeClient(EMULATOR_TOKEN, base_url=emulator.api_url)``.

``wait_until(condition, timeout=5.0)`` polls a callable until it returns something truthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from linode_api4 import LinodeClient

from linode_emu.server import EmulatorServer

EMULATOR_TOKEN = "emu-token"
EMULATOR_DEFAULTS = {"token": EMULATOR_TOKEN, "time_scale": 0.01, "rate_limits": False, "policy": "timed"}
HTTP_TIMEOUT = 10


class EmulatorControl:
    """A client of the emulator's ``/_emulator`` control API. Every method returns the JSON answer
    and raises ``requests.HTTPError`` when the emulator refuses the request.
    """

    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/_emulator"
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def reset(self) -> dict:
        """Forget every object and go back to the server's initial policy and rate limits."""
        return self._call("POST", "/reset")

    def stats(self) -> dict:
        """``{"total": n, "<METHOD> <route pattern>": n}``, e.g. ``stats()["POST /linode/instances"]``."""
        return self._call("GET", "/stats")

    def requests(self) -> list[dict]:
        """The API request log: ``[{"method", "path", "route", "status", "time"}]``, oldest first."""
        return self._call("GET", "/requests")["requests"]

    def clear_requests(self) -> dict:
        """Empty the request log and the statistics."""
        return self._call("DELETE", "/requests")

    def add_fault(
        self,
        path: str,
        status: int | str,
        *,
        method: str | None = None,
        count: int = 1,
        when: str = "before",
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> dict:
        """Answer the next ``count`` requests whose path after /v4 fully matches the regex ``path``.

        ``status`` is an HTTP error status or ``"timeout"`` (hold ``delay`` s, close without answer);
        ``when="after"`` performs the request and then answers the fault.
        """
        body = {"path": path, "status": status, "count": count, "when": when, "delay": delay}
        if method:
            body["method"] = method
        if retry_after is not None:
            body["retry_after"] = retry_after
        return self._call("POST", "/faults", body)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")

    def fail_next_boot(self, linode_id: int) -> dict:
        """That Linode's next boot ends ``offline`` with a failed ``linode_boot`` event."""
        return self._call("POST", "/boot-failures", {"linode_id": linode_id})

    def fail_boots(self, count: int, skip: int = 0) -> dict:
        """Of the boots of any Linode to come (at create, boot, reboot), ``skip`` pass and the ``count``
        after them fail as :meth:`fail_next_boot` does. Replaces the previous plan; answers
        ``{"count", "skip"}``.
        """
        return self._call("POST", "/boot-failures", {"count": count, "skip": skip})

    def fail_next_captures(self, count: int = 1) -> dict:
        """The next ``count`` captures fail: ``disk_imagize`` ends ``failed``, the image goes away."""
        return self._call("POST", "/capture-failures", {"count": count})

    def set_transitions(self, policy: str | None = None, reads: int | None = None, time_scale=None) -> dict:
        """Set the progression policy (``timed``, ``immediate``, ``reads``) and/or its numbers."""
        body = {"policy": policy, "reads": reads, "time_scale": time_scale}
        return self._call(
            "PUT", "/transitions", {key: value for key, value in body.items() if value is not None}
        )

    def set_rate_limits(self, enabled: bool | None = None, limits: dict | None = None) -> dict:
        """Switch rate limits and/or set classes: ``{"linode_create": {"limit": 20, "window": 15}}``."""
        body = {"enabled": enabled, "limits": limits}
        return self._call(
            "PUT", "/rate-limits", {key: value for key, value in body.items() if value is not None}
        )

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self._session.request(method, self.url + path, json=body, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()


def wait_until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01):
    """Call ``condition`` until it returns something truthy and return that; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def emulator_factory(tmp_path):
    """Start emulators (``factory(state_dir=None, **kwargs)``); all are stopped at teardown."""
    servers: list[EmulatorServer] = []

    def start(state_dir=None, **kwargs) -> EmulatorServer:
        directory = state_dir or tmp_path / f"emulator-{len(servers)}"
        server = EmulatorServer(directory, **{**EMULATOR_DEFAULTS, **kwargs})
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def emulator(emulator_factory, tmp_path) -> EmulatorServer:
    """A running emulator with the test defaults (see the module docstring)."""
    return emulator_factory(state_dir=tmp_path / "emulator")


@pytest.fixture
def emulator_control(emulator):
    control = EmulatorControl(emulator.url)
    yield control
    control.close()


@pytest.fixture
def linode_client(emulator):
    client = LinodeClient(EMULATOR_TOKEN, base_url=emulator.api_url)
    yield client
    client.session.close()
