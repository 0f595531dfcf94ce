"""Atomic persistence: a failed or killed save never leaves a half-written state."""

from __future__ import annotations

import json
import os

import pytest

from linode_emu.store import STATE_FILE, StateStore


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
