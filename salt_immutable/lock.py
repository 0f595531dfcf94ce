"""EFFECTS: one roll or bake per fleet at a time on a master, with a fencing id.

The lock of fleet ``web`` is the file ``<folder>/locks/web.json``, where ``folder`` is the master's
``cachedir + "/immutable"``, passed in by the caller. It holds one JSON record::

    {"lock_id": "9f2c51d0a4b3e817", "fleet": "web", "purpose": "roll", "roll_id": "1a2b3c4d",
     "host": "master1", "pid": 4242, "pid_start": 1234567, "started": "2024-05-01T12:00:00Z"}

``lock_id`` is the fencing id: a long roll calls :meth:`FleetLock.check` before each batch of
mutations and stops with :class:`LockLost` once the file holds another id (the lock was broken with
``salt-run immutable.unlock`` or taken over). ``pid_start`` is the holder's start time in clock ticks
(field 22 of ``/proc/<pid>/stat``), so a recycled pid is not mistaken for the holder.

A lock whose holder is gone is stale and the next :meth:`FleetLock.acquire` takes it over with a
warning. Only a lock taken on this host can be judged: one from another host (a shared cache, or a
renamed master) is never stale automatically and must be broken by hand.

Every check-and-write is serialised between processes by ``fcntl.flock`` on the sidecar
``<folder>/locks/<fleet>.guard`` (held for a few milliseconds, never deleted, so every process locks
the same inode), and the lock file is always replaced atomically (temporary file + ``os.replace``), so
readers that skip the guard still see either the old record or the new one.

The small helpers :func:`utc_iso`, :func:`check_name`, :func:`write_json`, :func:`process_start` and
:func:`process_alive` are shared with :mod:`salt_immutable.history`. Standard library only.
"""

import fcntl
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from salt_immutable.deadline import Deadline
from salt_immutable.errors import LockHeld, LockLost

log = logging.getLogger(__name__)

LOCKS = "locks"
PURPOSES = ("roll", "bake", "rollback", "prune", "replace", "retire")
POLL_SECONDS = 0.5
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_PROC = Path("/proc")
# /proc/<pid>/stat after the ")" closing the command name starts at field 3 (state).
_STATE_FIELD = 3
_STARTTIME_FIELD = 22


# --- helpers shared with history.py ---------------------------------------------------------------


def utc_iso(seconds):
    """``seconds`` since the epoch as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, e.g. ``2024-05-01T12:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def check_name(kind, value):
    """Raise ValueError unless ``value`` can be used as a file name (``kind`` says what it names)."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise ValueError(f"{kind} {value!r} cannot name a file: use letters, digits, '_', '.' and '-'")
    return value


def write_json(path, data):
    """Replace ``path`` with ``data`` as JSON, atomically and durably.

    The JSON goes to a hidden ``.<name>.*.tmp`` file in the same folder, which is fsynced and renamed
    over ``path``; a crash leaves the old content or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def process_start(pid):
    """When process ``pid`` started, in clock ticks since boot (``/proc`` field 22), or None if unknown."""
    fields = _proc_stat(pid)
    return int(fields[_STARTTIME_FIELD - _STATE_FIELD]) if fields else None


def process_alive(pid, pid_start=None):
    """True while process ``pid`` runs on this host (zombies count as gone).

    With ``pid_start`` (see :func:`process_start`) the process must also have started then: a pid the
    kernel has given to a newer process is not alive. Without ``/proc`` only the pid is checked.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid)
    if fields is None:
        return not _PROC.joinpath("self").exists()
    if fields[0] == "Z":
        return False
    return pid_start is None or int(fields[_STARTTIME_FIELD - _STATE_FIELD]) == pid_start


def _proc_stat(pid):
    """The fields of ``/proc/<pid>/stat`` from field 3 (state) on, or None when it cannot be read."""
    try:
        stat = _PROC.joinpath(str(pid), "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    return stat[stat.rindex(")") + 1 :].split()


def _sync_folder(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the lock ------------------------------------------------------------------------------------


class FleetLock:
    """The lock that lets one roll, rollback or bake at a time work on ``fleet``.

    ``folder`` is the master's ``cachedir + "/immutable"``; ``purpose`` is ``"roll"``, ``"bake"``, ``"prune"`` or
    ``"rollback"``; ``roll_id`` is recorded so operators can tell which roll holds the lock. ``clock``
    (seconds since the epoch) dates the lock and measures waits, ``sleep`` pauses between polls and
    ``warn(message)`` is told when a stale lock is taken over (``logging`` when None); tests inject all
    three. The fencing id :attr:`lock_id` is a fresh random hex string made with the object.

    Use it as a context manager, which releases the lock on the way out (even when it was lost)::

        with FleetLock(folder, "web", "roll", roll_id=rid).acquire(wait=30) as lock:
            for batch in batches:
                lock.check()  # raises LockLost once the lock was broken
                ...

    ``with FleetLock(...) as lock:`` works too and acquires without waiting.
    """

    def __init__(self, folder, fleet, purpose, *, roll_id=None, clock=time.time, sleep=time.sleep, warn=None):
        if purpose not in PURPOSES:
            raise ValueError(f"a fleet lock's purpose is one of {', '.join(PURPOSES)}, not {purpose!r}")
        self.folder = Path(folder)
        self.fleet = check_name("fleet", fleet)
        self.purpose = purpose
        self.roll_id = roll_id
        self.lock_id = secrets.token_hex(8)
        self.path = lock_path(folder, fleet)
        self.started = None
        self.held = False
        self._clock = clock
        self._sleep = sleep
        self._warn = warn or log.warning

    def record(self):
        """The record this lock writes into the lock file."""
        return {
            "lock_id": self.lock_id,
            "fleet": self.fleet,
            "purpose": self.purpose,
            "roll_id": self.roll_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "started": self.started,
        }

    def acquire(self, wait=0.0):
        """Take the lock and return ``self``; raise :class:`LockHeld` if a live holder keeps it.

        While another live process holds it, poll every 0.5 s for up to ``wait`` seconds. A stale lock
        (see the module docstring) or an unreadable lock file is taken over at once, with a warning.
        Acquiring a lock this object already holds does nothing.
        """
        deadline = Deadline(wait, clock=self._clock)
        while True:
            current, warning = self._try_take()
            if warning:
                self._warn(warning)
            if current is None:
                self.held = True
                return self
            if deadline.expired():
                raise _held_error(self.fleet, self.purpose, current, wait)
            self._sleep(deadline.pause(POLL_SECONDS))

    def release(self):
        """Give the lock up if the file still holds our ``lock_id``; True if it did. Idempotent."""
        with _guarded(self.path):
            current, _ = _load(self.path)
            ours = _is_ours(current, self.lock_id)
            if ours:
                self.path.unlink()
        self.held = False
        return ours

    def check(self):
        """The fencing test: raise :class:`LockLost` unless the lock file still holds our ``lock_id``."""
        current, problem = _load(self.path)
        if _is_ours(current, self.lock_id):
            return
        if current is not None:
            now = f"it is now held by {describe(current)}"
        elif problem is not None:
            now = f"the lock file is unreadable ({problem})"
        else:
            now = "it was broken and nobody holds it now"
        raise LockLost(
            f"lost the lock of fleet {self.fleet} (our lock id {self.lock_id}): {now}; "
            f"stopping before changing the fleet any further",
            fleet=self.fleet,
            lock_id=self.lock_id,
            holder=current,
        )

    def __enter__(self):
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()
        return False

    def _try_take(self):
        """One attempt, under the guard: ``(live holder or None, warning or None)``."""
        with _guarded(self.path):
            current, problem = _load(self.path)
            if _is_ours(current, self.lock_id):
                return None, None
            warning = None
            if problem is not None:
                warning = f"fleet {self.fleet}: replacing the unreadable lock file {self.path} ({problem})"
            elif current is not None:
                why = stale_reason(current)
                if why is None:
                    return current, None
                warning = f"fleet {self.fleet}: taking over the stale lock of {describe(current)}: {why}"
            self.started = utc_iso(self._clock())
            write_json(self.path, self.record())
        return None, warning


def lock_path(folder, fleet):
    """The lock file of ``fleet``: ``<folder>/locks/<fleet>.json``."""
    return Path(folder) / LOCKS / f"{check_name('fleet', fleet)}.json"


def holder(folder, fleet):
    """Who holds the lock of ``fleet``: its record plus ``"stale": bool``, or None when it is free.

    An unreadable lock file gives ``{"fleet", "lock_id": None, "problem", "stale": True}``.
    """
    path = lock_path(folder, fleet)
    current, problem = _load(path)
    if problem is not None:
        return {"fleet": fleet, "lock_id": None, "problem": problem, "stale": True}
    if current is None:
        return None
    return {**current, "stale": stale_reason(current) is not None}


def break_lock(folder, fleet, lock_id):
    """Remove the lock of ``fleet`` if it holds ``lock_id``; return the removed record (None if free).

    Raise :class:`LockHeld`, naming the real holder, when the lock holds another id: the operator
    must name the lock they mean to break, so a lock taken since they looked is left alone. An
    unreadable lock file has no id to match and is removed whatever ``lock_id`` says (the next
    :meth:`FleetLock.acquire` would replace it anyway); its record is then
    ``{"fleet", "lock_id": None, "problem"}``.
    """
    path = lock_path(folder, fleet)
    with _guarded(path):
        current, problem = _load(path)
        if current is None and problem is None:
            return None
        if problem is None and not _is_ours(current, lock_id):
            raise LockHeld(
                f"cannot break the lock of fleet {fleet}: it holds lock id {current['lock_id']}, "
                f"not {lock_id}; it is held by {describe(current)}",
                fleet=fleet,
                holder=current,
            )
        path.unlink()
    return current if problem is None else {"fleet": fleet, "lock_id": None, "problem": problem}


def stale_reason(record):
    """Why the lock ``record`` is stale, or None while its holder may be alive.

    Stale means: taken on this host, and its pid is gone (or a zombie) or now belongs to a process
    that started at another time than ``pid_start``. A lock from another host is never stale here.
    """
    if record.get("host") != socket.gethostname():
        return None
    pid = record.get("pid")
    if not process_alive(pid):
        return f"process {pid} is gone"
    if not process_alive(pid, record.get("pid_start")):
        return f"pid {pid} now belongs to another process"
    return None


def describe(record):
    """A lock record in words, e.g. ``roll 1a2b3c4d (lock id 9f2c...) of pid 4242 on host m1 since ...``."""
    what = " ".join(str(part) for part in (record.get("purpose") or "lock", record.get("roll_id")) if part)
    return (
        f"{what} (lock id {record.get('lock_id')}) of pid {record.get('pid')} on host {record.get('host')} "
        f"since {record.get('started')}"
    )


def _held_error(fleet, purpose, current, wait):
    here = socket.gethostname()
    waited = f" after waiting {wait:g} s" if wait else ""
    if current.get("host") == here:
        hint = "if that process is stuck"
    else:
        hint = f"it was taken on another host, so {here} cannot tell whether it is stale; if it is"
    return LockHeld(
        f"cannot lock fleet {fleet} for {purpose}{waited}: it is held by {describe(current)}; "
        f"{hint}, break the lock with: salt-run immutable.unlock fleet={fleet} lock_id={current['lock_id']}",
        fleet=fleet,
        holder=current,
    )


def _is_ours(record, lock_id):
    return record is not None and record.get("lock_id") == lock_id


def _load(path):
    """Read a lock file: ``(record, None)``, ``(None, None)`` when absent, ``(None, problem)`` if corrupt."""
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"cannot read it: {err}"
    try:
        record = json.loads(content)
    except ValueError as err:
        return None, f"not JSON: {err}"
    if not isinstance(record, dict) or not isinstance(record.get("lock_id"), str) or not record["lock_id"]:
        return None, "not a lock record (no lock_id)"
    return record, None


@contextmanager
def _guarded(lock_file):
    """Hold an exclusive ``flock`` on the ``.guard`` sidecar of ``lock_file`` for the block."""
    guard = Path(lock_file).with_suffix(".guard")
    guard.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
