"""EFFECTS: the record of every roll and rollback of a fleet, kept on the master across restarts.

Each roll is one JSON file, ``<folder>/history/<fleet>/<started>-<roll_id>.json`` (for example
``20240501T120000Z-1a2b3c4d.json``), where ``folder`` is the master's ``cachedir + "/immutable"``,
passed in by the caller. A roll writes its record when it starts (outcome ``running``), saves it again
as it goes (servers created and destroyed, timings per phase) and once more when it ends. Every write
replaces the file atomically, so a killed master leaves the last complete record; the next roll turns
records whose process is gone into ``interrupted`` (:func:`mark_interrupted`).

``immutable.history`` reads the records and ``rollback`` asks :func:`previous_good_version` where to go.
A prune appends each image it deletes to ``<folder>/history/<fleet>/images.jsonl`` first
(:func:`archive_image`).
Times are ``YYYY-MM-DDTHH:MM:SSZ`` strings in UTC, read from an injectable ``clock`` (seconds since
the epoch). Standard library only.
"""

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from salt_immutable.errors import RollError
from salt_immutable.lock import check_name, process_alive, process_start, utc_iso, write_json

log = logging.getLogger(__name__)

HISTORY = "history"
ARCHIVE = "images.jsonl"  # the provenance of every pruned image, one JSON object a line
VERBS = ("roll", "rollback", "replace")
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
INTERRUPTED = "interrupted"
OUTCOMES = (RUNNING, SUCCEEDED, FAILED, ROLLED_BACK, INTERRUPTED)
ENDINGS = (SUCCEEDED, FAILED, ROLLED_BACK, INTERRUPTED)


@dataclass
class RollRecord:
    """One roll or rollback of a fleet, as written to its history file.

    ``from_versions`` are the versions the fleet ran when it started, ``to_version`` the one it rolls
    to. ``ended`` stays None and ``outcome`` ``"running"`` until :func:`finish`. ``created`` and
    ``destroyed`` list server labels, ``timings`` maps a phase to seconds and ``failure`` describes
    what went wrong (None on success). ``pid``, ``pid_start`` and ``host`` identify the process that
    ran it, so :func:`mark_interrupted` can tell a live roll from a dead one. ``started`` and
    ``roll_id`` name the file: do not change them after :func:`start`.
    """

    roll_id: str
    fleet: str
    verb: str
    from_versions: list[str]
    to_version: str
    started: str
    ended: str | None = None
    outcome: str = RUNNING
    user: str | None = None
    created: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    failure: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)  # the roll's timeline (see roll.Timeline)
    pid: int | None = None
    host: str | None = None
    pid_start: int | None = None
    # 1, 2, ... per fleet in the order rolls started: ``started`` has whole seconds, and a killed roll and
    # its rerun may start within one.
    sequence: int = 0

    def to_json(self, with_events=False):
        """The record as a JSON-ready dict; its timeline's events only ``with_events`` (they are many)."""
        data = asdict(self)
        if not with_events:
            data.pop("events")
        return data

    @classmethod
    def from_json(cls, data):
        """A record from :meth:`to_json`'s dict; unknown keys are ignored, missing ones raise TypeError."""
        if not isinstance(data, dict):
            raise TypeError(f"a roll record is a JSON object, not {type(data).__name__}")
        known = {item.name for item in fields(cls)}
        record = cls(**{key: value for key, value in data.items() if key in known})
        check_name("roll id", record.roll_id)
        check_name("fleet", record.fleet)
        if record.outcome not in OUTCOMES or not isinstance(record.started, str):
            raise ValueError(f"roll {record.roll_id} has outcome {record.outcome!r}, started {record.started!r}")
        return record

    @property
    def filename(self):
        """``<started without - and :>-<roll_id>.json``, e.g. ``20240501T120000Z-1a2b3c4d.json``."""
        stamp = self.started.replace("-", "").replace(":", "")
        return f"{stamp}-{self.roll_id}.json"


def start(folder, fleet, verb, from_versions, to_version, user, roll_id=None, *, clock=time.time):
    """Record that a roll (or rollback) of ``fleet`` starts now, write it at once and return it.

    ``roll_id`` defaults to 8 random hex characters. The record carries this process's pid and host.
    """
    if verb not in VERBS:
        raise ValueError(f"a roll record's verb is one of {', '.join(VERBS)}, not {verb!r}")
    record = RollRecord(
        roll_id=check_name("roll id", roll_id or secrets.token_hex(4)),
        fleet=check_name("fleet", fleet),
        verb=verb,
        from_versions=list(from_versions),
        to_version=to_version,
        started=utc_iso(clock()),
        user=user,
        pid=os.getpid(),
        host=socket.gethostname(),
        pid_start=process_start(os.getpid()),
        sequence=max((known.sequence for known in records(folder, fleet)), default=0) + 1,
    )
    save(folder, record)
    return record


def save(folder, record):
    """Write ``record`` to its file, atomically (temporary file + ``os.replace``)."""
    write_json(record_path(folder, record), record.to_json(with_events=True))


def finish(folder, record, outcome, failure=None, *, clock=time.time):
    """End ``record`` now with ``outcome`` (any outcome but ``running``) and ``failure``; save it."""
    if outcome not in ENDINGS:
        raise ValueError(f"a roll ends as one of {', '.join(ENDINGS)}, not {outcome!r}")
    record.outcome = outcome
    record.failure = failure
    record.ended = utc_iso(clock())
    save(folder, record)
    return record


def record_path(folder, record):
    """Where ``record`` lives: ``<folder>/history/<fleet>/<record.filename>``."""
    return Path(folder) / HISTORY / check_name("fleet", record.fleet) / record.filename


def records(folder, fleet=None):
    """Every record of ``fleet`` (of all fleets when None), oldest first: by ``started``, ``sequence``, ``roll_id``.

    Files that cannot be read or parsed are logged and skipped.
    """
    root = Path(folder) / HISTORY
    if fleet is not None:
        folders = [root / check_name("fleet", fleet)]
    else:
        folders = sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []
    found = [_read(path) for sub in folders if sub.is_dir() for path in sorted(sub.glob("*.json"))]
    return sorted((record for record in found if record is not None), key=_order)


def find(folder, fleet, roll_id=None):
    """The record of ``fleet``'s roll ``roll_id`` (its latest roll when None); RollError names what is known."""
    known = records(folder, fleet)
    if roll_id is None and known:
        return known[-1]
    found = [record for record in known if record.roll_id == str(roll_id)]
    if not found:
        ids = ", ".join(record.roll_id for record in known[-10:]) or "none"
        raise RollError(f"history {fleet}: no roll {roll_id} recorded on this master (latest: {ids})")
    return found[-1]


def mark_interrupted(folder, fleet, *, clock=time.time):
    """Turn ``fleet``'s ``running`` records whose process died on this host into ``interrupted``.

    A record is left alone when its process still runs (same pid and start time), when it was written
    on another host (its process cannot be checked from here) or when it names no pid. Return the
    records changed, each saved with ``ended`` set to now and a ``failure`` saying what happened.
    """
    here = socket.gethostname()
    changed = []
    for record in records(folder, fleet):
        if record.outcome != RUNNING or record.host != here or record.pid is None:
            continue
        if process_alive(record.pid, record.pid_start):
            continue
        record.outcome = INTERRUPTED
        record.ended = utc_iso(clock())
        if record.failure is None:
            record.failure = {
                "reason": INTERRUPTED,
                "message": f"process {record.pid} on host {here} ended before the {record.verb} finished",
            }
        save(folder, record)
        changed.append(record)
    return changed


def archive_image(folder, fleet, entry, *, clock=time.time):
    """Append ``entry`` (an image about to be deleted: id, label, version, provenance) to ``fleet``'s
    image archive, ``<folder>/history/<fleet>/images.jsonl``, durably, before the image goes."""
    path = Path(folder) / HISTORY / check_name("fleet", fleet) / ARCHIVE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({**entry, "archived": utc_iso(clock())}, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def archived_images(folder, fleet=None):
    """The images pruned from ``fleet`` (from every fleet when None), in the order they were archived."""
    root = Path(folder) / HISTORY
    fleets = [check_name("fleet", fleet)] if fleet is not None else (
        sorted(path.name for path in root.iterdir() if path.is_dir()) if root.is_dir() else [])
    entries = []
    for name in fleets:
        path = root / name / ARCHIVE
        if path.is_file():
            entries += [_archive_entry(path, line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [entry for entry in entries if entry is not None]


def _archive_entry(path, line):
    try:
        entry = json.loads(line)
    except ValueError as err:
        log.warning("skipping an unreadable line of %s: %s", path, err)
        return None
    return entry if isinstance(entry, dict) else None


def previous_good_version(records, current_version):
    """The version a rollback should return to: the most recent good version other than the current one.

    The rule: walk the records from newest to oldest (ordered by ``started``, ``sequence``, ``roll_id``); in
    each record look first at its ``to_version`` if the record ``succeeded`` (a failed, rolled back,
    interrupted or running roll's target does not count), then at its ``from_versions`` in list order
    (the versions that ran when it started). The first of these that differs from
    ``current_version`` is the answer; None when there is none.

    Example, oldest first, with the fleet now on ``1.2``::

        roll  [1.0] -> 1.1  succeeded
        roll  [1.1] -> 1.2  succeeded
        roll  [1.2] -> 1.3  rolled_back    1.3 does not count (not succeeded); 1.2 is current
                                           next record: 1.2 is current; its from_version 1.1 wins

    gives ``"1.1"``. Like ``cd -``, a second rollback right after a successful one goes back to where
    the first started: after ``rollback [1.2] -> 1.1 succeeded`` the answer for ``1.1`` is ``"1.2"``.
    """
    for record in sorted(records, key=_order, reverse=True):
        candidates = [record.to_version] if record.outcome == SUCCEEDED else []
        for version in [*candidates, *record.from_versions]:
            if version and version != current_version:
                return version
    return None


def _order(record):
    return (record.started, record.sequence, record.roll_id)


def _read(path):
    """The record in ``path``, or None (logged) when it cannot be read or is not a roll record."""
    try:
        return RollRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        log.warning("skipping the unreadable roll record %s: %s", path, err)
        return None
