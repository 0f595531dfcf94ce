"""The fleet lock held by real processes: exactly one of competing processes wins, a live holder is named, the lock
of a killed process is taken over."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from salt_immutable import lock
from salt_immutable.errors import LockHeld
from salt_immutable.lock import FleetLock

REPO = Path(__file__).resolve().parents[2]
FLEET = "web"

# A child process that locks FLEET when told "go" on stdin, says whether it won, and keeps the lock
# until its stdin closes. With "crash" it exits at once without releasing, like a killed roll.
CHILD = textwrap.dedent(
    """
    import os, sys
    from salt_immutable.errors import LockHeld
    from salt_immutable.lock import FleetLock

    folder, fleet, mode = sys.argv[1:4]
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        held = FleetLock(folder, fleet, "roll", roll_id="child").acquire()
    except LockHeld:
        print("held", flush=True)
    else:
        print("won " + held.lock_id, flush=True)
        if mode == "crash":
            os._exit(0)
    sys.stdin.readline()
    """
)


class Child:
    """A competitor for the lock in a process of its own."""

    def __init__(self, folder, mode="hold"):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder), FLEET, mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env,
        )
        assert self.process.stdout.readline().strip() == "ready"

    @property
    def pid(self):
        return self.process.pid

    def go(self):
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self):
        return self.process.stdout.readline().strip()

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


def read_record(folder):
    return json.loads(lock.lock_path(folder, FLEET).read_text())


@pytest.fixture
def children(tmp_path):
    started = []

    def spawn(mode="hold"):
        child = Child(tmp_path, mode)
        started.append(child)
        return child

    yield spawn
    for child in started:
        child.stop()


def test_two_processes_compete_and_exactly_one_wins(tmp_path, children):
    competitors = [children() for _ in range(4)]
    for child in competitors:
        child.go()
    results = [child.result() for child in competitors]

    winners = [result for result in results if result.startswith("won ")]
    assert len(winners) == 1, results
    assert results.count("held") == len(competitors) - 1
    assert read_record(tmp_path)["lock_id"] == winners[0].split()[1]


def test_live_holder_makes_acquire_raise_lock_held_with_its_details(tmp_path, children):
    child = children()
    child.go()
    child_lock_id = child.result().split()[1]
    warnings = []

    with pytest.raises(LockHeld) as caught:
        FleetLock(tmp_path, FLEET, "bake", warn=warnings.append).acquire(wait=1)

    message = str(caught.value)
    started = read_record(tmp_path)["started"]
    for detail in (f"fleet {FLEET}", "for bake", "roll child", f"pid {child.pid}", f"host {socket.gethostname()}",
                   f"lock id {child_lock_id}", f"since {started}", "after waiting 1 s",
                   f"salt-run immutable.unlock fleet={FLEET} lock_id={child_lock_id}"):
        assert detail in message
    assert caught.value.fleet == FLEET
    assert caught.value.holder["lock_id"] == child_lock_id
    assert warnings == []


def test_lock_left_by_a_killed_process_is_taken_over(tmp_path, children):
    child = children(mode="crash")
    child.go()
    child_lock_id = child.result().split()[1]
    child.process.wait(timeout=30)
    warnings = []

    FleetLock(tmp_path, FLEET, "roll", warn=warnings.append).acquire()

    assert len(warnings) == 1
    assert child_lock_id in warnings[0] and f"pid {child.pid}" in warnings[0]
