"""Status machines, timed transitions and progression policies of the backend (no HTTP)."""

from __future__ import annotations

import pytest

from linode_emu.errors import EmuApiError
from linode_emu.transitions import NOMINAL_SECONDS, STATUS_MACHINES, TransitionPolicy, check_transition
from tests.support.emulator_helpers import create_linode, events_of, run_until_idle


def status(backend, linode_id) -> str:
    return backend.get_instance(linode_id)["status"]


def test_create_provisions_then_boots_on_the_clock(backend, clock):
    linode = create_linode(backend)
    assert linode["status"] == "provisioning"
    assert [event["status"] for event in events_of(backend, "linode_create")] == ["scheduled"]

    clock.advance(NOMINAL_SECONDS["linode_create"] * 0.5)
    assert status(backend, linode["id"]) == "provisioning"
    (create,) = events_of(backend, "linode_create")
    assert (create["status"], create["percent_complete"]) == ("started", 50)
    assert create["secondary_entity"]["id"] == "linode/debian12"

    clock.advance(NOMINAL_SECONDS["linode_create"] * 0.5)
    assert status(backend, linode["id"]) == "booting"
    clock.advance(NOMINAL_SECONDS["linode_boot"])
    assert status(backend, linode["id"]) == "running"
    (create,) = events_of(backend, "linode_create")
    (boot,) = events_of(backend, "linode_boot")
    assert (create["status"], create["percent_complete"], boot["status"]) == ("finished", 100, "finished")
    assert boot["secondary_entity"]["type"] == "linode_config"


def test_late_read_catches_up_along_absolute_deadlines(backend, clock):
    linode = create_linode(backend)
    clock.advance(3600)
    assert status(backend, linode["id"]) == "running"
    (create,) = events_of(backend, "linode_create")
    (boot,) = events_of(backend, "linode_boot")
    assert create["duration"] == NOMINAL_SECONDS["linode_create"]
    assert boot["duration"] == NOMINAL_SECONDS["linode_boot"]


def test_time_scale_multiplies_every_delay(make_backend, clock):
    backend = make_backend(time_scale=0.01)
    linode = create_linode(backend)
    clock.advance((NOMINAL_SECONDS["linode_create"] + NOMINAL_SECONDS["linode_boot"]) * 0.01 + 0.001)
    assert status(backend, linode["id"]) == "running"


def test_booted_false_ends_offline(backend, clock):
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "offline"
    assert events_of(backend, "linode_boot") == []


def test_without_image_a_linode_has_no_disks_and_stays_offline(backend, clock):
    linode = backend.create_instance(region="us-east", type="g6-nanode-1", label="empty-1")
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "offline"
    assert backend.list_disks(linode["id"]) == []


def test_disks_are_not_ready_while_provisioning(backend, clock):
    linode = create_linode(backend)
    assert {disk["status"] for disk in backend.list_disks(linode["id"])} == {"not ready"}
    run_until_idle(backend, clock)
    assert {disk["status"] for disk in backend.list_disks(linode["id"])} == {"ready"}


def test_immediate_policy_finishes_on_the_next_read(make_backend):
    backend = make_backend(policy="immediate")
    linode = create_linode(backend)
    assert linode["status"] == "provisioning"
    assert status(backend, linode["id"]) == "running"
    backend.shutdown_instance(linode["id"])
    assert status(backend, linode["id"]) == "offline"


def test_reads_policy_advances_one_step_per_n_reads(make_backend):
    backend = make_backend(policy="reads", reads=2)
    linode = create_linode(backend)
    seen = [status(backend, linode["id"]) for _ in range(5)]
    assert seen == ["provisioning", "booting", "booting", "running", "running"]


def test_reading_the_event_counts_as_reading_its_object(make_backend):
    backend = make_backend(policy="reads", reads=1)
    linode = create_linode(backend, booted=False)
    backend.list_events()
    assert backend.get_instance(linode["id"])["status"] == "offline"


def test_policy_switch_applies_to_pending_jobs(backend):
    linode = create_linode(backend)
    backend.set_policy(TransitionPolicy("immediate"))
    assert status(backend, linode["id"]) == "running"


def test_shutdown_reboot_and_delete(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    backend.shutdown_instance(linode["id"])
    assert status(backend, linode["id"]) == "shutting_down"
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "offline"

    backend.reboot_instance(linode["id"])
    assert status(backend, linode["id"]) == "booting"
    run_until_idle(backend, clock)
    backend.reboot_instance(linode["id"])
    assert status(backend, linode["id"]) == "rebooting"
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "running"
    assert [event["status"] for event in events_of(backend, "linode_reboot")] == ["finished"]

    backend.delete_instance(linode["id"])
    assert status(backend, linode["id"]) == "deleting"
    run_until_idle(backend, clock)
    with pytest.raises(EmuApiError) as caught:
        backend.get_instance(linode["id"])
    assert (caught.value.status, caught.value.reason) == (404, "Not found")
    assert [event["status"] for event in events_of(backend, "linode_delete")] == ["finished"]


def test_actions_on_a_stable_status_are_no_ops(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    backend.boot_instance(linode["id"])
    assert status(backend, linode["id"]) == "running"
    assert len(events_of(backend, "linode_boot")) == 1


def test_rebuild_replaces_disks_and_boots_again(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    old_disks = {disk["id"] for disk in backend.list_disks(linode["id"])}
    rebuilt = backend.rebuild_instance(linode["id"], image="linode/ubuntu24.04", root_pass="an0ther-pass")
    assert (rebuilt["status"], rebuilt["image"], rebuilt["ipv4"]) == (
        "rebuilding",
        "linode/ubuntu24.04",
        linode["ipv4"],
    )
    new_disks = {disk["id"] for disk in backend.list_disks(linode["id"])}
    assert new_disks and not new_disks & old_disks
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "running"
    assert [event["status"] for event in events_of(backend, "linode_rebuild")] == ["finished"]


def test_capture_goes_creating_to_available(backend, clock):
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    root = backend.list_disks(linode["id"])[0]
    image = backend.create_image(disk_id=root["id"], label="web-v1", cloud_init=True, tags=["fleet:web"])
    assert image["id"].startswith("private/")
    assert (image["status"], image["size"], image["regions"]) == ("creating", root["size"], [])
    assert (image["type"], image["is_public"], image["vendor"], image["expiry"]) == (
        "manual",
        False,
        None,
        None,
    )
    assert image["capabilities"] == ["cloud-init"]
    (imagize,) = events_of(backend, "disk_imagize")
    assert imagize["entity"]["id"] == linode["id"]
    # As recorded from the real API: the image's number, an integer, and its private/ url.
    number = int(image["id"].removeprefix("private/"))
    assert imagize["secondary_entity"] == {
        "id": number,
        "label": image["label"],
        "type": "image",
        "url": f"/v4/images/private/{number}",
    }

    clock.advance(NOMINAL_SECONDS["disk_imagize"] / 2)
    assert backend.get_image(image["id"])["status"] == "creating"
    clock.advance(NOMINAL_SECONDS["disk_imagize"] / 2)
    available = backend.get_image(image["id"])
    assert (available["status"], available["regions"]) == (
        "available",
        [{"region": "us-east", "status": "available"}],
    )


def test_capture_without_cloud_init_has_no_capabilities(make_backend):
    backend = make_backend(policy="immediate")
    linode = create_linode(backend, booted=False)
    backend.get_instance(linode["id"])
    image = backend.create_image(disk_id=backend.list_disks(linode["id"])[0]["id"])
    assert image["capabilities"] == []
    assert image["label"] == "Debian 12 Disk"


def test_a_linode_is_busy_while_a_job_runs_on_it(backend, clock):
    linode = create_linode(backend, booted=False)
    with pytest.raises(EmuApiError) as caught:
        backend.boot_instance(linode["id"])
    assert (caught.value.status, caught.value.reason) == (400, "Linode busy.")
    run_until_idle(backend, clock)
    backend.create_image(disk_id=backend.list_disks(linode["id"])[0]["id"])
    for action in (backend.boot_instance, backend.shutdown_instance, backend.reboot_instance):
        with pytest.raises(EmuApiError, match=r"Linode busy\."):
            action(linode["id"])
    run_until_idle(backend, clock)
    backend.boot_instance(linode["id"])


def test_capture_needs_an_offline_linode_and_an_ext4_disk(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    root, swap = backend.list_disks(linode["id"])
    with pytest.raises(EmuApiError) as caught:
        backend.create_image(disk_id=root["id"])
    assert (caught.value.status, caught.value.field) == (400, "disk_id")
    backend.shutdown_instance(linode["id"])
    run_until_idle(backend, clock)
    with pytest.raises(EmuApiError, match="ext3 and ext4"):
        backend.create_image(disk_id=swap["id"])
    with pytest.raises(EmuApiError) as caught:
        backend.create_image(disk_id=None)
    assert caught.value.field == "disk_id"


def test_injected_boot_failure_ends_offline_with_a_failed_event(backend, clock):
    linode = create_linode(backend)
    backend.fail_next_boot(linode["id"])
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "offline"
    (boot,) = events_of(backend, "linode_boot")
    assert boot["status"] == "failed"
    assert boot["message"]
    backend.boot_instance(linode["id"])
    run_until_idle(backend, clock)
    assert status(backend, linode["id"]) == "running"


def test_injected_capture_failure_deletes_the_image(backend, clock):
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    backend.fail_next_captures(1)
    disk_id = backend.list_disks(linode["id"])[0]["id"]
    failing = backend.create_image(disk_id=disk_id)
    run_until_idle(backend, clock)
    with pytest.raises(EmuApiError, match="Not found"):
        backend.get_image(failing["id"])
    assert events_of(backend, "disk_imagize")[0]["status"] == "failed"
    working = backend.create_image(disk_id=disk_id)
    run_until_idle(backend, clock)
    assert backend.get_image(working["id"])["status"] == "available"


def test_volume_goes_creating_to_active(backend, clock):
    volume = backend.create_volume(label="data-1", size=20, region="us-east")
    assert volume["status"] == "creating"
    clock.advance(NOMINAL_SECONDS["volume_create"])
    assert backend.get_volume(volume["id"])["status"] == "active"
    assert [event["status"] for event in events_of(backend, "volume_create")] == ["finished"]


def test_deleting_a_linode_cancels_its_capture(backend, clock):
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    image = backend.create_image(disk_id=backend.list_disks(linode["id"])[0]["id"])
    backend.delete_instance(linode["id"])
    run_until_idle(backend, clock)
    assert events_of(backend, "disk_imagize")[0]["status"] == "failed"
    with pytest.raises(EmuApiError, match="Not found"):
        backend.get_image(image["id"])


def test_deleting_the_image_ends_its_capture(backend, clock):
    linode = create_linode(backend, booted=False)
    run_until_idle(backend, clock)
    image = backend.create_image(disk_id=backend.list_disks(linode["id"])[0]["id"])
    backend.delete_image(image["id"])
    assert events_of(backend, "disk_imagize")[0]["status"] == "failed"
    backend.boot_instance(linode["id"])


@pytest.mark.parametrize(
    ("kind", "old", "new"), [("linode", "offline", "running"), ("image", "available", "creating")]
)
def test_status_machines_refuse_undeclared_moves(kind, old, new):
    with pytest.raises(RuntimeError):
        check_transition(kind, old, new)


def test_status_machines_only_name_known_statuses():
    for machine in STATUS_MACHINES.values():
        for targets in machine.values():
            assert targets <= set(machine)


@pytest.mark.parametrize(
    "settings",
    [{"policy": "eventually"}, {"reads": 0}, {"time_scale": -1}, {"reads": True}, {"time_scale": "1"}],
)
def test_policy_settings_are_validated(settings):
    with pytest.raises(ValueError):
        TransitionPolicy(**settings)
