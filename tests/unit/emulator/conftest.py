"""Fixtures of the emulator's model tests (no HTTP): a manual clock and backends built on it."""

from __future__ import annotations

import pytest

from linode_emu.backend import Backend
from linode_emu.store import StateStore
from linode_emu.transitions import TransitionPolicy
from tests.support.emulator_helpers import ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def make_backend(tmp_path, clock):
    """``make_backend(policy="timed", reads=1, time_scale=1.0, state_dir=None)`` on the manual clock."""

    def make(policy="timed", reads=1, time_scale=1.0, state_dir=None, driver=None):
        store = StateStore(state_dir or tmp_path / "state")
        return Backend(store, clock=clock, policy=TransitionPolicy(policy, reads, time_scale), driver=driver)

    return make


@pytest.fixture
def backend(make_backend):
    """A timed backend (nominal delays, time scale 1) on the manual clock."""
    return make_backend()
