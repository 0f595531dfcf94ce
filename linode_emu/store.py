"""Atomic persistence of the emulator state as one JSON file in the state directory, and the writer that
saves it in the background while the emulator serves."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from linode_emu import delays

STATE_FILE = "state.json"
_TEMP_SUFFIX = ".tmp"


class StateStore:
    """Reads and writes ``<state_dir>/state.json``.

    A save writes a temporary file in the same directory, fsyncs it, renames it over the state file
    (``os.replace`` is atomic) and fsyncs the directory, so a killed emulator leaves either the old or
    the new state, never half of one.
    """

    def __init__(self, state_dir: str | os.PathLike):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_FILE

    def load(self) -> dict | None:
        """The saved state, or None for a fresh directory. Leftover temporary files are removed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.state_dir.glob(f"{STATE_FILE}.*{_TEMP_SUFFIX}"):
            leftover.unlink()
        if not self.path.exists():
            return None
        with self.path.open(encoding="utf-8") as handle:
            return json.load(handle)

    @staticmethod
    def encode(state: dict) -> str:
        """The text of a state as :meth:`write` stores it."""
        return json.dumps(state, separators=(",", ":"))

    def save(self, state: dict) -> None:
        """Replace the saved state atomically and durably."""
        self.write(self.encode(state))

    def write(self, text: str) -> None:
        """Replace the saved state with an encoded one (:meth:`encode`), atomically and durably."""
        fd, temp_name = tempfile.mkstemp(dir=self.state_dir, prefix=f"{STATE_FILE}.", suffix=_TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StateWriter:
    """Saves a changing state: at once after each change, or, once :meth:`start` ed, from a thread of its own at
    most every ``delays.real("state_save")`` seconds, so that a burst of changes costs one save.

    ``snapshot()``, called with the owner's ``lock`` held, returns the encoded state when it changed since the
    last snapshot, else None; the thread writes the file outside that lock. :meth:`stop` ends the thread and
    saves the last changes: a stopped emulator has saved everything, a killed one loses at most the changes
    of the last interval and leaves the previous whole file (:meth:`StateStore.write`).
    """

    def __init__(self, store: StateStore, lock: threading.RLock, snapshot: Callable[[], str | None]):
        self._store = store
        self._lock = lock
        self._snapshot = snapshot
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def changed(self) -> None:
        """The state changed (the caller holds the lock): save it now, or wake the writer thread if there is one."""
        if self._thread is None:
            self._save_locked()
        else:
            self._changed.set()

    def start(self) -> None:
        """Save from a writer thread from now on."""
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="linode_emu-state", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """End the writer thread, then save what changed since its last save; later changes are saved at once.
        Safe to call twice."""
        thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._changed.set()
            thread.join()
        with self._lock:
            self._thread = None
            self._save_locked()

    def _save_locked(self) -> None:
        text = self._snapshot()
        if text is not None:
            self._store.write(text)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait()
            self._changed.clear()
            with self._lock:
                text = self._snapshot()
            if text is not None:
                self._store.write(text)
            self._stopping.wait(delays.real("state_save"))
