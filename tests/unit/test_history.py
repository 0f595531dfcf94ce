"""The roll history: records written at once, interrupted rolls found, rollback targets (records read by another
process: tests/functional/test_history.py)."""

import json
import os
import re
import socket
from dataclasses import replace

import pytest

from salt_immutable import history, lock
from salt_immutable.history import RollRecord

FLEET = "web"
EPOCH = 1714564800.0  # 2024-05-01T12:00:00Z


class FakeClock:
    def __init__(self, now=EPOCH):
        self.now = now

    def __call__(self):
        return self.now


def begin(folder, roll_id="r1", at=EPOCH, fleet=FLEET, verb="roll", from_versions=("1.0",), to="1.1"):
    return history.start(folder, fleet, verb, list(from_versions), to, "alice", roll_id=roll_id, clock=lambda: at)


def on_disk(folder, record):
    return json.loads(history.record_path(folder, record).read_text())


# --- writing -------------------------------------------------------------------------------------


def test_start_writes_a_running_record_at_once(tmp_path):
    record = begin(tmp_path)

    assert history.record_path(tmp_path, record) == tmp_path / "history" / "web" / "20240501T120000Z-r1.json"
    assert on_disk(tmp_path, record) == {
        "roll_id": "r1", "fleet": "web", "verb": "roll", "from_versions": ["1.0"], "to_version": "1.1",
        "started": "2024-05-01T12:00:00Z", "ended": None, "outcome": "running", "user": "alice",
        "created": [], "destroyed": [], "failure": None, "timings": {}, "events": [], "pid": os.getpid(),
        "host": socket.gethostname(), "pid_start": lock.process_start(os.getpid()), "sequence": 1,
    }


def test_roll_id_defaults_to_8_random_hex_characters(tmp_path):
    first = history.start(tmp_path, FLEET, "roll", [], "1.0", "alice")
    second = history.start(tmp_path, FLEET, "roll", [], "1.0", "alice")

    assert re.fullmatch(r"[0-9a-f]{8}", first.roll_id)
    assert first.roll_id != second.roll_id


def test_save_keeps_the_progress_of_a_running_roll(tmp_path):
    record = begin(tmp_path)
    record.created.append("web-g2-1")
    record.destroyed.append("web-g1-1")
    record.timings["create"] = 12.5

    history.save(tmp_path, record)

    assert history.records(tmp_path, FLEET) == [record]
    assert list((tmp_path / "history" / "web").iterdir()) == [history.record_path(tmp_path, record)]


def test_finish_records_the_outcome_the_failure_and_the_end(tmp_path):
    record = begin(tmp_path)
    failure = {"phase": "verify", "server": "web-g2-1", "message": "2 states changed"}

    history.finish(tmp_path, record, "failed", failure, clock=lambda: EPOCH + 61)

    assert (record.outcome, record.failure, record.ended) == ("failed", failure, "2024-05-01T12:01:01Z")
    assert history.records(tmp_path, FLEET) == [record]


@pytest.mark.parametrize("outcome", ["running", "done", None])
def test_finish_refuses_an_outcome_that_is_not_an_ending(tmp_path, outcome):
    with pytest.raises(ValueError):
        history.finish(tmp_path, begin(tmp_path), outcome)


@pytest.mark.parametrize(
    ("fleet", "verb", "roll_id"),
    [("web", "deploy", None), ("../web", "roll", None), ("web", "roll", "a/b"), ("", "roll", None)],
)
def test_start_refuses_bad_verbs_and_names(tmp_path, fleet, verb, roll_id):
    with pytest.raises(ValueError):
        history.start(tmp_path, fleet, verb, [], "1.0", "alice", roll_id=roll_id)


# --- reading -------------------------------------------------------------------------------------


def test_records_come_oldest_first_by_start_then_by_the_order_they_started_in(tmp_path):
    """b and a start within one second (a killed roll and its rerun): b began first, whatever the ids say."""
    begin(tmp_path, "c", at=EPOCH + 60)
    begin(tmp_path, "b", at=EPOCH)
    begin(tmp_path, "a", at=EPOCH)
    begin(tmp_path, "d", at=EPOCH - 3600)

    assert [record.roll_id for record in history.records(tmp_path, FLEET)] == ["d", "b", "a", "c"]
    assert [record.sequence for record in history.records(tmp_path, FLEET)] == [4, 2, 3, 1]


def test_records_of_every_fleet_or_of_one(tmp_path):
    begin(tmp_path, "w", at=EPOCH + 1)
    begin(tmp_path, "a", at=EPOCH, fleet="api")

    assert [(r.fleet, r.roll_id) for r in history.records(tmp_path)] == [("api", "a"), ("web", "w")]
    assert [r.roll_id for r in history.records(tmp_path, "api")] == ["a"]
    assert history.records(tmp_path, "db") == []
    assert history.records(tmp_path / "nothing-yet") == []


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'{"roll_id": "x"}', b'{"roll_id": "../x", "fleet": "web", "verb": "roll", '
     b'"from_versions": [], "to_version": "1", "started": "2024-05-01T12:00:00Z"}', b"\xff\xfe\x00"],
    ids=["empty", "truncated", "not-an-object", "missing-fields", "bad-roll-id", "not-utf8"],
)
def test_unreadable_record_files_are_skipped(tmp_path, content):
    good = begin(tmp_path)
    (tmp_path / "history" / "web" / "20240501T000000Z-bad.json").write_bytes(content)

    assert history.records(tmp_path, FLEET) == [good]


def test_unknown_keys_in_a_record_are_ignored(tmp_path):
    record = begin(tmp_path)
    path = history.record_path(tmp_path, record)
    path.write_text(json.dumps({**on_disk(tmp_path, record), "added_later": 1}))

    assert history.records(tmp_path, FLEET) == [record]


# --- interrupted rolls ---------------------------------------------------------------------------


def test_mark_interrupted_ends_running_records_whose_process_is_gone(tmp_path, dead_pid):
    own_start = lock.process_start(os.getpid())
    dead = begin(tmp_path, "dead", at=EPOCH)
    reused = begin(tmp_path, "reused", at=EPOCH + 1)
    alive = begin(tmp_path, "alive", at=EPOCH + 2)
    remote = begin(tmp_path, "remote", at=EPOCH + 3)
    done = begin(tmp_path, "done", at=EPOCH + 4)
    other_fleet = begin(tmp_path, "api", at=EPOCH + 5, fleet="api")
    for record, changes in [
        (dead, {"pid": dead_pid}),
        (reused, {"pid_start": own_start + 1}),
        (remote, {"pid": dead_pid, "host": "elsewhere"}),
        (done, {"pid": dead_pid}),
        (other_fleet, {"pid": dead_pid}),
    ]:
        history.save(tmp_path, replace(record, **changes))
    history.finish(tmp_path, replace(done, pid=dead_pid), "succeeded", clock=lambda: EPOCH + 10)

    changed = history.mark_interrupted(tmp_path, FLEET, clock=lambda: EPOCH + 3600)

    assert [record.roll_id for record in changed] == ["dead", "reused"]
    outcomes = {record.roll_id: record.outcome for record in history.records(tmp_path)}
    assert outcomes == {"dead": "interrupted", "reused": "interrupted", "alive": "running",
                        "remote": "running", "done": "succeeded", "api": "running"}
    stored = history.records(tmp_path, FLEET)[0]
    assert stored == changed[0]
    assert stored.ended == "2024-05-01T13:00:00Z"
    assert stored.failure["reason"] == "interrupted" and f"process {dead_pid}" in stored.failure["message"]
    assert alive.outcome == "running"


def test_mark_interrupted_keeps_a_failure_already_recorded(tmp_path, dead_pid):
    record = begin(tmp_path)
    record.pid = dead_pid
    record.failure = {"phase": "create", "message": "quota"}
    history.save(tmp_path, record)

    (changed,) = history.mark_interrupted(tmp_path, FLEET)

    assert changed.outcome == "interrupted" and changed.failure == {"phase": "create", "message": "quota"}


# --- rollback target -----------------------------------------------------------------------------


def rec(from_versions, to_version, outcome, verb="roll"):
    return (from_versions, to_version, outcome, verb)


PREVIOUS_GOOD = [
    # (what, history oldest first as (from_versions, to_version, outcome, verb), current, expected)
    ("no history", [], "1.0", None),
    ("first roll succeeded", [rec(["1.0"], "1.1", "succeeded")], "1.1", "1.0"),
    ("first ever roll from nothing", [rec([], "1.0", "succeeded")], "1.0", None),
    ("two rolls", [rec(["1.0"], "1.1", "succeeded"), rec(["1.1"], "1.2", "succeeded")], "1.2", "1.1"),
    ("failed roll's target never counts",
     [rec(["1.0"], "1.1", "succeeded"), rec(["1.1"], "1.2", "succeeded"), rec(["1.2"], "1.3", "rolled_back")],
     "1.2", "1.1"),
    ("interrupted roll's target never counts", [rec(["1.0"], "1.1", "interrupted")], "1.0", None),
    ("running roll's target never counts", [rec(["1.0"], "1.1", "running")], "1.0", None),
    ("from_versions of a failed roll count", [rec(["1.0"], "1.1", "failed")], "1.1", "1.0"),
    ("rollback toggles back like cd -",
     [rec(["1.0"], "1.1", "succeeded"), rec(["1.1"], "1.2", "succeeded"), rec(["1.2"], "1.1", "succeeded", "rollback")],
     "1.1", "1.2"),
    ("current differs from the last target", [rec(["1.0"], "1.1", "succeeded")], "0.9", "1.1"),
    ("mixed from_versions in list order", [rec(["1.1", "1.0"], "1.2", "failed")], "1.1", "1.0"),
    ("to_version of a success beats its from_versions", [rec(["1.0"], "1.1", "succeeded")], "2.0", "1.1"),
    ("nothing but the current version",
     [rec(["1.0"], "1.0", "succeeded"), rec(["1.0"], "1.1", "failed")], "1.0", None),
]


@pytest.mark.parametrize(
    ("rolls", "current", "expected"), [case[1:] for case in PREVIOUS_GOOD], ids=[case[0] for case in PREVIOUS_GOOD]
)
def test_previous_good_version(rolls, current, expected):
    records = [
        RollRecord(roll_id=f"r{n}", fleet=FLEET, verb=verb, from_versions=from_versions, to_version=to,
                   started=lock.utc_iso(EPOCH + 60 * n), outcome=outcome)
        for n, (from_versions, to, outcome, verb) in enumerate(rolls)
    ]

    assert history.previous_good_version(records, current) == expected
    assert history.previous_good_version(list(reversed(records)), current) == expected
