"""Atomic persistence of the emulator state as one JSON file in the state directory."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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

    def save(self, state: dict) -> None:
        """Replace the saved state atomically and durably."""
        fd, temp_name = tempfile.mkstemp(dir=self.state_dir, prefix=f"{STATE_FILE}.", suffix=_TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(state, separators=(",", ":")))
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
