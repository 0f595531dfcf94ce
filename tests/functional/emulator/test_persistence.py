"""State survives an emulator restart: objects, id counters, and work in progress."""

from __future__ import annotations

import json
import time

import requests

from linode_emu import delays
from linode_emu.store import StateStore
from linode_emu.transitions import NOMINAL_SECONDS
from tests.support.emulator import EMULATOR_TOKEN
from tests.support.emulator_helpers import ROOT_PASS, ManualClock

AUTH = {"Authorization": f"Bearer {EMULATOR_TOKEN}"}
# Real seconds a save may take beyond its interval on a busy test machine.
SAVE_MARGIN = 2.0
LINODE = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}


def call(server, method, path, body=None):
    response = requests.request(method, server.api_url + path, json=body, headers=AUTH, timeout=10)
    assert response.ok, response.text
    return response.json()


def test_objects_and_counters_survive_a_restart(emulator_factory, tmp_path):
    state_dir = tmp_path / "state"
    first = emulator_factory(state_dir=state_dir, policy="immediate")
    linode = call(first, "POST", "/linode/instances", {**LINODE, "label": "web-1", "tags": ["fleet:web"]})
    volume = call(first, "POST", "/volumes", {"label": "data", "size": 10, "linode_id": linode["id"]})
    nodebalancer = call(first, "POST", "/nodebalancers", {"region": "us-east", "label": "front"})
    before = {
        path: call(first, "GET", path)
        for path in ("/linode/instances", "/volumes", "/nodebalancers", "/tags")
    }
    first.stop()

    second = emulator_factory(state_dir=state_dir, policy="immediate")
    assert {path: call(second, "GET", path) for path in before} == before
    assert call(second, "GET", f"/volumes/{volume['id']}")["linode_id"] == linode["id"]
    newer = call(second, "POST", "/linode/instances", {**LINODE, "label": "web-2"})
    assert newer["id"] > linode["id"]
    assert newer["ipv4"] != linode["ipv4"]
    assert call(second, "POST", "/nodebalancers", {"region": "us-east"})["id"] > nodebalancer["id"]


def test_a_capture_in_progress_is_still_creating_after_a_restart_and_ends_available_at_its_deadline(
    emulator_factory, tmp_path
):
    """Both servers run on one manual clock: the restart happens halfway through the capture, for certain."""
    state_dir, clock = tmp_path / "state", ManualClock()
    first = emulator_factory(state_dir=state_dir, time_scale=1.0, clock=clock)
    linode = call(first, "POST", "/linode/instances", {**LINODE, "label": "web-1", "booted": False})
    clock.advance(NOMINAL_SECONDS["linode_create"])
    assert call(first, "GET", f"/linode/instances/{linode['id']}")["status"] == "offline"
    disk = call(first, "GET", f"/linode/instances/{linode['id']}/disks")["data"][0]
    image = call(first, "POST", "/images", {"disk_id": disk["id"], "label": "web-v1"})
    clock.advance(NOMINAL_SECONDS["disk_imagize"] / 2)
    assert call(first, "GET", f"/images/{image['id']}")["status"] == "creating"
    first.stop()

    second = emulator_factory(state_dir=state_dir, time_scale=1.0, clock=clock)
    assert call(second, "GET", f"/images/{image['id']}")["status"] == "creating"
    clock.advance(NOMINAL_SECONDS["disk_imagize"] / 2)
    assert call(second, "GET", f"/images/{image['id']}")["status"] == "available"
    imagize = call(second, "GET", "/account/events")["data"][0]
    assert (imagize["action"], imagize["status"], imagize["entity"]["id"], imagize["duration"]) == (
        "disk_imagize", "finished", linode["id"], NOMINAL_SECONDS["disk_imagize"])


def saved_instances(state_file) -> int:
    """How many Linodes the state file holds (none before the first save); it parses as a whole at every read."""
    return len(json.loads(state_file.read_text())["instances"]) if state_file.exists() else 0


def test_the_state_file_is_always_whole_json_and_catches_up_within_the_save_interval(emulator, tmp_path):
    state_file = tmp_path / "emulator" / "state.json"
    for n in range(5):
        call(emulator, "POST", "/linode/instances", {**LINODE, "label": f"web-{n}"})
        deadline = time.monotonic() + delays.real("state_save") + SAVE_MARGIN
        while saved_instances(state_file) < n + 1:
            assert time.monotonic() < deadline, f"web-{n} was not saved within the save interval"
            time.sleep(0.01)
    assert sorted(path.name for path in state_file.parent.iterdir()) == ["state.json"]


def test_a_burst_of_changes_costs_few_saves_and_a_stop_saves_the_last_ones(emulator_factory, tmp_path, monkeypatch):
    writes = []
    real_write = StateStore.write
    monkeypatch.setattr(StateStore, "write", lambda store, text: (writes.append(text), real_write(store, text)))
    server = emulator_factory(state_dir=tmp_path / "state")
    for n in range(20):
        call(server, "POST", "/tags", {"label": f"burst-{n:02}"})
    server.stop()
    assert len(writes) < 20
    assert json.loads((tmp_path / "state" / "state.json").read_text())["tags"] == [f"burst-{n:02}" for n in range(20)]
