"""Helpers shared by the emulator tests: the backend model's (tests/unit/emulator) and the served emulator's
(tests/functional/emulator)."""

from __future__ import annotations

import re

from linode_emu.machines import MachineDriver

START = 1_750_000_000.0
ROOT_PASS = "s3cret-pass"
API_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
# A Cloud Firewall's rules as a client sends them: one inbound rule with every field, nothing outbound.
WEB_FIREWALL_RULES = {
    "inbound_policy": "DROP",
    "inbound": [
        {
            "action": "ACCEPT",
            "protocol": "TCP",
            "ports": "22, 80-90",
            "addresses": {"ipv4": ["192.0.2.0/24"], "ipv6": ["2001:db8::/32"]},
            "label": "allow-web",
            "description": "SSH and web",
        }
    ],
    "outbound_policy": "ACCEPT",
    "outbound": [],
}


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START):
        self.current = now

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


def create_linode(backend, label="web-1", **kwargs) -> dict:
    """Create a Linode from linode/debian12 in us-east through the backend; returns its JSON."""
    params = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}
    return backend.create_instance(label=label, **{**params, **kwargs})


def run_until_idle(backend, clock, step=1.0, limit=1000) -> None:
    """Move the clock in steps until no job is scheduled or started."""
    for _ in range(limit):
        if all(event["status"] not in ("scheduled", "started") for event in backend.list_events()):
            return
        clock.advance(step)
    raise AssertionError("jobs still running")


def events_of(backend, action: str) -> list[dict]:
    """The events with this action, oldest first."""
    return [event for event in reversed(backend.list_events()) if event["action"] == action]


class PoweringOffDriver(MachineDriver):
    """Machines that power themselves off when told to (append a Linode id to ``halting``), as a sealed
    builder does; the backend sees it at its next tick."""

    def __init__(self):
        self.halting = []

    def halted(self):
        gone, self.halting = self.halting, []
        return gone
