"""The fleet lock: one holder, stale locks taken over, fencing after a break (holders in real processes:
tests/functional/test_lock.py)."""

import json
import os
import re
import socket

import pytest

from salt_immutable import lock
from salt_immutable.errors import ImmutableError, LockHeld, LockLost
from salt_immutable.lock import FleetLock

FLEET = "web"
EPOCH = 1714564800.0  # 2024-05-01T12:00:00Z

class FakeTime:
    """A clock and a sleep that only move when slept; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep=None):
        self.now = EPOCH
        self.sleeps = []
        self.on_sleep = on_sleep

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


def write_record(folder, **fields):
    record = {"lock_id": "0123456789abcdef", "fleet": FLEET, "purpose": "roll", "roll_id": "oldroll1",
              "host": socket.gethostname(), "pid": os.getpid(), "pid_start": lock.process_start(os.getpid()),
              "started": "2024-05-01T11:00:00Z", **fields}
    lock.write_json(lock.lock_path(folder, FLEET), record)
    return record


def read_record(folder):
    return json.loads(lock.lock_path(folder, FLEET).read_text())


# --- taking and giving back ----------------------------------------------------------------------


def test_acquire_writes_the_lock_record(tmp_path):
    held = FleetLock(tmp_path, FLEET, "bake", roll_id="r1", clock=lambda: EPOCH).acquire()

    assert re.fullmatch(r"[0-9a-f]{16}", held.lock_id)
    assert read_record(tmp_path) == {
        "lock_id": held.lock_id, "fleet": FLEET, "purpose": "bake", "roll_id": "r1",
        "host": socket.gethostname(), "pid": os.getpid(), "pid_start": lock.process_start(os.getpid()),
        "started": "2024-05-01T12:00:00Z",
    }
    assert (tmp_path / "locks" / "web.json").is_file()
    assert held.held


def test_each_lock_gets_a_fresh_lock_id(tmp_path):
    assert FleetLock(tmp_path, FLEET, "roll").lock_id != FleetLock(tmp_path, FLEET, "roll").lock_id


def test_acquiring_twice_keeps_the_lock(tmp_path):
    held = FleetLock(tmp_path, FLEET, "roll").acquire()
    assert held.acquire() is held
    held.check()


def test_release_removes_the_lock_and_is_idempotent(tmp_path):
    held = FleetLock(tmp_path, FLEET, "roll").acquire()

    assert held.release() is True
    assert held.release() is False
    assert lock.holder(tmp_path, FLEET) is None
    assert not held.held


def test_release_leaves_a_lock_taken_by_someone_else(tmp_path):
    first = FleetLock(tmp_path, FLEET, "roll").acquire()
    lock.break_lock(tmp_path, FLEET, first.lock_id)
    second = FleetLock(tmp_path, FLEET, "bake").acquire()

    assert first.release() is False
    assert read_record(tmp_path)["lock_id"] == second.lock_id


def test_context_manager_on_an_acquired_lock_releases_it(tmp_path):
    with FleetLock(tmp_path, FLEET, "roll").acquire(wait=5) as held:
        assert lock.holder(tmp_path, FLEET)["lock_id"] == held.lock_id
    assert lock.holder(tmp_path, FLEET) is None


def test_context_manager_acquires_without_waiting_and_releases_on_error(tmp_path):
    with pytest.raises(RuntimeError), FleetLock(tmp_path, FLEET, "roll") as held:
        assert held.held
        raise RuntimeError("boom")
    assert lock.holder(tmp_path, FLEET) is None


def test_writes_leave_no_temporary_files(tmp_path):
    with FleetLock(tmp_path, FLEET, "roll"):
        pass
    FleetLock(tmp_path, FLEET, "roll").acquire()

    assert sorted(path.name for path in (tmp_path / "locks").iterdir()) == ["web.guard", "web.json"]


# --- waiting -----------------------------------------------------------------------------------------


def test_acquire_polls_every_half_second_until_the_wait_is_spent(tmp_path):
    FleetLock(tmp_path, FLEET, "roll").acquire()
    fake = FakeTime()

    with pytest.raises(LockHeld):
        FleetLock(tmp_path, FLEET, "roll", clock=fake.clock, sleep=fake.sleep).acquire(wait=1.2)

    assert fake.sleeps == pytest.approx([0.5, 0.5, 0.2])


def test_acquire_without_wait_tries_once(tmp_path):
    FleetLock(tmp_path, FLEET, "roll").acquire()
    fake = FakeTime()

    with pytest.raises(LockHeld):
        FleetLock(tmp_path, FLEET, "roll", clock=fake.clock, sleep=fake.sleep).acquire()
    assert fake.sleeps == []


def test_acquire_gets_the_lock_once_the_holder_releases_it(tmp_path):
    first = FleetLock(tmp_path, FLEET, "roll").acquire()
    fake = FakeTime(on_sleep=first.release)

    second = FleetLock(tmp_path, FLEET, "roll", clock=fake.clock, sleep=fake.sleep).acquire(wait=10)

    assert fake.sleeps == [0.5]
    assert read_record(tmp_path)["lock_id"] == second.lock_id


# --- stale locks ---------------------------------------------------------------------------------


def test_lock_of_a_dead_pid_is_taken_over_with_a_warning(tmp_path, dead_pid):
    write_record(tmp_path, pid=dead_pid, pid_start=None)
    warnings = []

    held = FleetLock(tmp_path, FLEET, "roll", warn=warnings.append).acquire()

    assert read_record(tmp_path)["lock_id"] == held.lock_id
    assert len(warnings) == 1
    for detail in (f"fleet {FLEET}", "stale", "0123456789abcdef", f"pid {dead_pid}", "roll oldroll1",
                   f"process {dead_pid} is gone"):
        assert detail in warnings[0]


def test_lock_of_a_reused_pid_is_taken_over(tmp_path):
    write_record(tmp_path, pid_start=lock.process_start(os.getpid()) + 1)
    warnings = []

    FleetLock(tmp_path, FLEET, "roll", warn=warnings.append).acquire()

    assert f"pid {os.getpid()} now belongs to another process" in warnings[0]


def test_lock_from_another_host_is_never_stale(tmp_path, dead_pid):
    write_record(tmp_path, host="elsewhere.example", pid=dead_pid)
    warnings = []

    with pytest.raises(LockHeld) as caught:
        FleetLock(tmp_path, FLEET, "roll", warn=warnings.append).acquire()

    assert "host elsewhere.example" in str(caught.value)
    assert "another host" in str(caught.value)
    assert warnings == []
    assert read_record(tmp_path)["lock_id"] == "0123456789abcdef"


@pytest.mark.parametrize(
    "content",
    ["", "{", "[1, 2]", '{"pid": 1}', '{"lock_id": ""}', "\xff\xfe"],
    ids=["empty", "truncated", "not-an-object", "no-lock-id", "empty-lock-id", "not-utf8"],
)
def test_unreadable_lock_file_is_stale_and_replaced_with_a_warning(tmp_path, content):
    path = lock.lock_path(tmp_path, FLEET)
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))
    assert lock.holder(tmp_path, FLEET)["stale"] is True
    warnings = []

    held = FleetLock(tmp_path, FLEET, "roll", warn=warnings.append).acquire()

    assert read_record(tmp_path)["lock_id"] == held.lock_id
    assert len(warnings) == 1 and "unreadable lock file" in warnings[0]


STALENESS = [
    # (what, record fields over a lock of this very process, stale?)
    ("this live process", {}, False),
    ("live pid, start time unknown", {"pid_start": None}, False),
    ("live pid, another start time", {"pid_start": "OTHER"}, True),
    ("dead pid", {"pid": "DEAD"}, True),
    ("dead pid, start time unknown", {"pid": "DEAD", "pid_start": None}, True),
    ("no pid", {"pid": None}, True),
    ("another host, dead pid", {"host": "elsewhere", "pid": "DEAD"}, False),
    ("another host, live pid", {"host": "elsewhere"}, False),
    ("no host", {"host": None, "pid": "DEAD"}, False),
]


@pytest.mark.parametrize(("fields", "stale"), [case[1:] for case in STALENESS], ids=[c[0] for c in STALENESS])
def test_holder_reports_staleness(tmp_path, dead_pid, fields, stale):
    substitutes = {"DEAD": dead_pid, "OTHER": (lock.process_start(os.getpid()) or 0) + 1}
    record = write_record(tmp_path, **{key: substitutes.get(value, value) for key, value in fields.items()})

    assert lock.holder(tmp_path, FLEET) == {**record, "stale": stale}


def test_holder_of_a_free_fleet_is_none(tmp_path):
    assert lock.holder(tmp_path, FLEET) is None


# --- breaking and fencing ------------------------------------------------------------------------


def test_check_passes_while_the_lock_is_ours(tmp_path):
    FleetLock(tmp_path, FLEET, "roll").acquire().check()


def test_after_break_lock_check_raises_lock_lost(tmp_path):
    held = FleetLock(tmp_path, FLEET, "roll", roll_id="r1").acquire()

    removed = lock.break_lock(tmp_path, FLEET, held.lock_id)

    assert removed["lock_id"] == held.lock_id and removed["roll_id"] == "r1"
    assert lock.holder(tmp_path, FLEET) is None
    with pytest.raises(LockLost) as caught:
        held.check()
    assert f"fleet {FLEET}" in str(caught.value) and held.lock_id in str(caught.value)
    assert "nobody holds it" in str(caught.value)
    assert (caught.value.fleet, caught.value.lock_id, caught.value.holder) == (FLEET, held.lock_id, None)


def test_lock_lost_names_whoever_holds_the_lock_now(tmp_path):
    first = FleetLock(tmp_path, FLEET, "roll").acquire()
    lock.break_lock(tmp_path, FLEET, first.lock_id)
    second = FleetLock(tmp_path, FLEET, "bake").acquire()

    with pytest.raises(LockLost) as caught:
        first.check()

    assert f"now held by bake (lock id {second.lock_id})" in str(caught.value)
    assert caught.value.holder["lock_id"] == second.lock_id


def test_break_lock_with_another_id_names_the_real_holder(tmp_path):
    held = FleetLock(tmp_path, FLEET, "roll", roll_id="r1").acquire()

    with pytest.raises(LockHeld) as caught:
        lock.break_lock(tmp_path, FLEET, "ffffffffffffffff")

    message = str(caught.value)
    assert "cannot break the lock of fleet web" in message
    assert "ffffffffffffffff" in message and held.lock_id in message and "roll r1" in message
    held.check()


def test_break_lock_of_a_free_fleet_returns_none(tmp_path):
    assert lock.break_lock(tmp_path, FLEET, "0123456789abcdef") is None


def test_break_lock_removes_an_unreadable_lock_file(tmp_path):
    path = lock.lock_path(tmp_path, FLEET)
    path.parent.mkdir(parents=True)
    path.write_text("{")

    removed = lock.break_lock(tmp_path, FLEET, "anything")

    assert removed["lock_id"] is None and "not JSON" in removed["problem"]
    assert not path.exists()


def test_lock_errors_are_immutable_errors():
    assert issubclass(LockHeld, ImmutableError) and issubclass(LockLost, ImmutableError)


# --- helpers -------------------------------------------------------------------------------------


def test_process_alive(dead_pid):
    own_start = lock.process_start(os.getpid())
    cases = [
        (os.getpid(), None, True),
        (os.getpid(), own_start, True),
        (os.getpid(), own_start + 1, False),
        (dead_pid, None, False),
        (0, None, False),
        (-1, None, False),
        (None, None, False),
        (True, None, False),
        ("42", None, False),
    ]
    assert [(pid, start, lock.process_alive(pid, start)) for pid, start, _ in cases] == cases


def test_process_start_of_a_dead_pid_is_none(dead_pid):
    assert isinstance(lock.process_start(os.getpid()), int)
    assert lock.process_start(dead_pid) is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "1970-01-01T00:00:00Z"), (EPOCH + 0.9, "2024-05-01T12:00:00Z")])
def test_utc_iso(seconds, text):
    assert lock.utc_iso(seconds) == text


@pytest.mark.parametrize(
    ("fleet", "purpose"),
    [("../etc", "roll"), ("", "roll"), (".hidden", "roll"), ("a/b", "roll"), (None, "roll"), ("web", "deploy")],
)
def test_bad_fleet_names_and_purposes_are_refused(tmp_path, fleet, purpose):
    with pytest.raises(ValueError):
        FleetLock(tmp_path, fleet, purpose)
