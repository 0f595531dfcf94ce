"""How asynchronous work progresses: the clock, nominal delays, progression policies, and the
status machines of the status-bearing models.

A job (see ``models.Job``) finishes when its policy says so:

* ``timed`` (default): at its absolute deadline, ``start + nominal seconds * time_scale`` (see
  :mod:`linode_emu.delays`);
* ``immediate``: at the first evaluation after the request that started it;
* ``reads``: after ``reads`` reads of the object it concerns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from linode_emu import delays
from linode_emu.models import Job

# Linode's seconds per job action, before the time scale (the table is delays.JOB_SECONDS).
NOMINAL_SECONDS = delays.JOB_SECONDS

POLICIES = ("timed", "immediate", "reads")

STATUS_MACHINES = {
    "linode": {
        "provisioning": {"booting", "offline", "deleting"},
        "booting": {"running", "offline", "deleting"},
        # offline: a poweroff inside
        "running": {"shutting_down", "rebooting", "rebuilding", "resizing", "deleting", "offline"},
        "shutting_down": {"offline", "deleting"},
        "offline": {"booting", "rebuilding", "resizing", "deleting"},
        "resizing": {"booting", "offline", "deleting"},
        "rebooting": {"running", "offline", "deleting"},
        "rebuilding": {"booting", "offline", "deleting"},
        "deleting": set(),
    },
    "image": {"creating": {"available"}, "pending_upload": {"available"}, "available": set()},
    "volume": {"creating": {"active"}, "active": {"resizing"}, "resizing": {"active"}},
}


class SystemClock:
    """Wall-clock seconds since the epoch; tests inject any object with ``now()``."""

    def now(self) -> float:
        return time.time()


def check_transition(kind: str, old: str, new: str) -> None:
    """Raise RuntimeError (an emulator bug, never an API answer) for a move the machine forbids."""
    if new not in STATUS_MACHINES[kind][old]:
        raise RuntimeError(f"{kind} cannot go from {old} to {new}")


@dataclass(frozen=True)
class TransitionPolicy:
    """The progression policy of a run (settable over ``PUT /_emulator/transitions``)."""

    policy: str = "timed"
    reads: int = 1
    time_scale: float = 1.0

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
        if isinstance(self.reads, bool) or not isinstance(self.reads, int) or self.reads < 1:
            raise ValueError("reads must be a positive integer")
        if (
            isinstance(self.time_scale, bool)
            or not isinstance(self.time_scale, (int, float))
            or self.time_scale < 0
        ):
            raise ValueError("time_scale must be a number >= 0")

    def to_json(self) -> dict:
        return {"policy": self.policy, "reads": self.reads, "time_scale": self.time_scale}

    def new_job(self, action: str, start: float, **params) -> Job:
        """A job for ``action`` starting at ``start`` (absolute seconds)."""
        return Job(start_at=start, finish_at=start + delays.job(action, self.time_scale), params=params)

    def progress(self, job: Job, now: float) -> float:
        """How far ``job`` is, from 0.0 to 1.0 (1.0 means it finishes now)."""
        if self.policy == "immediate":
            return 1.0
        if self.policy == "reads":
            return min(1.0, job.reads / self.reads)
        span = job.finish_at - job.start_at
        if span <= 0:
            return 1.0
        return max(0.0, min(1.0, (now - job.start_at) / span))
