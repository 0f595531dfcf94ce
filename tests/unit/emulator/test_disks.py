"""Disks and configs of a Linode without HTTP: create, resize, delete, clone, busy Linodes, free space,
their events, config profiles with many device slots, and a driver that cannot clone."""

from __future__ import annotations

import pytest

from linode_emu.errors import EmuApiError
from linode_emu.machines import MachineDriver, MachineError
from tests.support.emulator_helpers import ROOT_PASS, create_linode, events_of, run_until_idle

NANODE_DISK = 25600


def refused(call, *args, **kwargs) -> EmuApiError:
    with pytest.raises(EmuApiError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.fixture
def offline(backend, clock):
    """An offline Linode whose root disk was shrunk to 5000 MB: ``(backend, linode_id, root, swap)``."""
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    root, swap = backend.list_disks(linode["id"])
    backend.resize_disk(linode["id"], root["id"], 5000)
    run_until_idle(backend, clock)
    return backend, linode["id"], root, swap


def test_a_disk_resize_ends_with_the_new_size_and_an_event(offline, clock):
    backend, linode_id, root, _ = offline
    assert backend.get_disk(linode_id, root["id"])["size"] == 5000
    event = events_of(backend, "disk_resize")[-1]
    assert (event["status"], event["entity"]["id"], event["secondary_entity"]["id"]) == (
        "finished",
        linode_id,
        root["id"],
    )


def test_a_disk_job_makes_the_linode_busy(offline, clock):
    backend, linode_id, root, _ = offline
    disk = backend.create_disk(linode_id, size=100, label="scratch")
    assert disk["status"] == "not ready"
    error = refused(backend.resize_disk, linode_id, root["id"], 6000)
    assert (error.status, error.reason) == (400, "Linode busy.")
    run_until_idle(backend, clock)
    assert backend.get_disk(linode_id, disk["id"])["status"] == "ready"
    assert events_of(backend, "disk_create")[-1]["status"] == "finished"


def test_an_empty_disk_needs_a_size_and_a_label_and_names_both(offline):
    backend, linode_id, _, _ = offline
    error = refused(backend.create_disk, linode_id, size=None)
    assert [field for field, _ in error.problems] == ["size", "label"]


def test_disks_share_the_plans_space(offline):
    backend, linode_id, _, swap = offline
    free = NANODE_DISK - 5000 - swap["size"]
    error = refused(backend.create_disk, linode_id, size=free + 1, label="too-big")
    assert (error.field, error.reason) == ("size", f"Insufficient space: {free} MB of the plan are free")
    assert backend.create_disk(linode_id, size=free, label="all-of-it")["size"] == free


def test_a_disk_from_an_image_needs_credentials(offline, clock):
    backend, linode_id, _, _ = offline
    error = refused(backend.create_disk, linode_id, size=2000, image="linode/debian12")
    assert error.field == "root_pass"
    disk = backend.create_disk(linode_id, size=2000, image="linode/debian12", root_pass=ROOT_PASS)
    assert (disk["label"], disk["filesystem"]) == ("Debian 12 Disk", "ext4")


def test_a_deleted_disk_goes_away_and_leaves_its_config(offline, clock):
    backend, linode_id, _, swap = offline
    backend.delete_disk(linode_id, swap["id"])
    assert backend.get_disk(linode_id, swap["id"])["status"] == "deleting"
    run_until_idle(backend, clock)
    assert [disk["id"] for disk in backend.list_disks(linode_id)] == [disk["id"] for disk in [offline[2]]]
    assert backend.list_configs(linode_id)[0]["devices"]["sdb"] is None
    assert events_of(backend, "disk_delete")[-1]["status"] == "finished"


def test_a_clone_is_a_new_disk_of_the_same_size(offline, clock):
    backend, linode_id, root, _ = offline
    copy = backend.clone_disk(linode_id, root["id"])
    assert (copy["size"], copy["label"], copy["status"]) == (5000, f"Copy of {root['label']}", "not ready")
    run_until_idle(backend, clock)
    assert backend.get_disk(linode_id, copy["id"])["status"] == "ready"
    assert events_of(backend, "disk_duplicate")[-1]["status"] == "finished"


def test_a_disk_of_a_running_linode_is_resized_only_when_it_does_not_run_from_it(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    root = backend.list_disks(linode["id"])[0]
    error = refused(backend.resize_disk, linode["id"], root["id"], 5000)
    assert error.field == "size" and "shut down" in error.reason


class NoClones(MachineDriver):
    """Machines whose disks cannot be copied (as namespace machines)."""

    def clone_disk(self, source_id, disk_id):
        raise MachineError("disk clones are not supported here")


def test_a_driver_that_cannot_clone_refuses_the_clone_clearly(make_backend, clock):
    backend = make_backend(driver=NoClones())
    linode = create_linode(backend, booted=False, type="g6-standard-1")
    run_until_idle(backend, clock)
    root = backend.list_disks(linode["id"])[0]
    backend.resize_disk(linode["id"], root["id"], 1000)
    run_until_idle(backend, clock)
    error = refused(backend.clone_disk, linode["id"], root["id"])
    reason = f"Disk {root['id']} could not be cloned: disk clones are not supported here"
    assert (error.status, error.reason) == (400, reason)
    assert len(backend.list_disks(linode["id"])) == 2


# ---------------------------------------------------------------- configs


def test_a_config_has_one_device_slot_per_gb_of_memory(backend, clock):
    small = create_linode(backend, label="small")
    big = create_linode(backend, label="big", type="g6-standard-6")
    assert list(backend.list_configs(small["id"])[0]["devices"])[-1] == "sdh"
    devices = backend.list_configs(big["id"])[0]["devices"]
    assert (len(devices), list(devices)[-1]) == (16, "sdp")


def test_a_config_with_volumes_attaches_them(backend, clock):
    linode = create_linode(backend, type="g6-standard-6")
    run_until_idle(backend, clock)
    volumes = [backend.create_volume(label=f"data-{n}", region="us-east") for n in range(10)]
    disk_id = backend.list_disks(linode["id"])[0]["id"]
    slots = [f"sd{letter}" for letter in "bcdefghijk"]
    volume_slots = {slot: {"volume_id": volume["id"]} for slot, volume in zip(slots, volumes, strict=True)}
    devices = {"sda": {"disk_id": disk_id}, **volume_slots}
    config = backend.create_config(linode["id"], label="many", devices=devices)
    assert config["devices"]["sdk"] == {"disk_id": None, "volume_id": volumes[-1]["id"]}
    assert {volume["linode_id"] for volume in backend.list_volumes()} == {linode["id"]}
    assert events_of(backend, "linode_config_create")[-1]["secondary_entity"]["id"] == config["id"]


def test_config_checks_name_every_bad_field(backend):
    linode = create_linode(backend)
    error = refused(backend.create_config, linode["id"], devices={"sdz": {"disk_id": 1}, "sda": {"disk_id": 42}})
    assert [field for field, _ in error.problems] == ["label", "devices.sdz"]
    error = refused(backend.create_config, linode["id"], label="x", devices={"sda": {"disk_id": 42}})
    assert (error.field, error.reason) == ("devices.sda.disk_id", "Not found")


def test_a_config_update_changes_fields_and_slots(backend):
    linode = create_linode(backend)
    config = backend.list_configs(linode["id"])[0]
    updated = backend.update_config(
        linode["id"], config["id"], {"label": "renamed", "kernel": "linode/latest-64bit", "devices": {"sdb": None}}
    )
    assert (updated["label"], updated["kernel"], updated["devices"]["sdb"]) == ("renamed", "linode/latest-64bit", None)
    assert updated["devices"]["sda"] == config["devices"]["sda"]
    assert events_of(backend, "linode_config_update")[-1]["entity"]["id"] == linode["id"]


def test_config_interfaces_are_refused(backend):
    linode = create_linode(backend)
    error = refused(backend.create_config, linode["id"], label="x", devices={}, interfaces=[{"purpose": "vlan"}])
    assert error.field == "interfaces"
