"""Atomic persistence: a failed or killed save never leaves a half-written state; the writer batches saves."""

from __future__ import annotations

import json
import os
import threading

import pytest

from linode_emu.store import STATE_FILE, StateStore, StateWriter


def test_round_trip_and_fresh_directory(tmp_path):
    store = StateStore(tmp_path / "new" / "dir")
    assert store.load() is None
    store.save({"version": 1, "instances": [{"id": 1}]})
    assert StateStore(tmp_path / "new" / "dir").load() == {"version": 1, "instances": [{"id": 1}]}


def test_a_failing_write_keeps_the_old_state_and_no_temporary_file(tmp_path):
    store = StateStore(tmp_path)
    store.save({"version": 1, "n": 1})
    with pytest.raises(TypeError):
        store.save({"version": 1, "n": object()})
    assert store.load() == {"version": 1, "n": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == [STATE_FILE]


def test_the_state_file_is_replaced_never_rewritten_in_place(tmp_path, monkeypatch):
    store = StateStore(tmp_path)
    store.save({"version": 1, "n": 1})
    replaced = []
    real_replace = os.replace

    def spy(source, target):
        replaced.append((os.path.basename(source), os.path.basename(target)))
        assert json.loads((tmp_path / STATE_FILE).read_text()) == {"version": 1, "n": 1}
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    store.save({"version": 1, "n": 2})
    assert replaced and replaced[0][1] == STATE_FILE and replaced[0][0] != STATE_FILE
    assert store.load() == {"version": 1, "n": 2}


def test_leftovers_of_a_killed_save_are_removed_on_load(tmp_path):
    store = StateStore(tmp_path)
    store.save({"version": 1})
    (tmp_path / f"{STATE_FILE}.abc123.tmp").write_text('{"version": 1, "half')
    assert store.load() == {"version": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == [STATE_FILE]


class RecordingStore:
    """A store that keeps the texts written to it."""

    def __init__(self):
        self.texts: list[str] = []

    def write(self, text: str) -> None:
        self.texts.append(text)


class Changes:
    """A state that counts its changes; a snapshot is the count when it changed since the last one."""

    def __init__(self):
        self.count = 0
        self.dirty = False

    def change(self) -> None:
        self.count += 1
        self.dirty = True

    def snapshot(self) -> str | None:
        if not self.dirty:
            return None
        self.dirty = False
        return str(self.count)


def writer_on(changes: Changes) -> tuple[StateWriter, RecordingStore, threading.RLock]:
    store, lock = RecordingStore(), threading.RLock()
    return StateWriter(store, lock, changes.snapshot), store, lock


def test_before_start_each_change_is_saved_at_once():
    changes = Changes()
    writer, store, lock = writer_on(changes)
    for _ in range(3):
        with lock:
            changes.change()
            writer.changed()
    assert store.texts == ["1", "2", "3"]


def test_started_a_burst_of_changes_costs_few_saves_and_stop_saves_the_last_one():
    changes = Changes()
    writer, store, lock = writer_on(changes)
    writer.start()
    for _ in range(200):
        with lock:
            changes.change()
            writer.changed()
    writer.stop()
    assert store.texts[-1] == "200"
    assert len(store.texts) < 200
    with lock:
        changes.change()
        writer.changed()
    assert store.texts[-1] == "201", "after stop, changes are saved at once again"
    writer.stop()
    assert store.texts[-1] == "201", "a second stop with nothing changed writes nothing"
