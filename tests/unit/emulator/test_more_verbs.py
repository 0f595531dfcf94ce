"""Verbs that linode_api4's own integration tests need, without HTTP: every invalid field at once, plans
with regional prices, resize, root password, transfer, addresses, encryption, volume resize and clone,
image upload and replication, NodeBalancer types and UDP, Firewall rule versions, and the families
mixed into the facade."""

from __future__ import annotations

import inspect

import pytest

from linode_emu import backend as backend_module
from linode_emu.backend import Backend
from linode_emu.errors import EmuApiError
from linode_emu.images import upload_path
from tests.support.emulator_helpers import create_linode, events_of, run_until_idle

RULES = {"inbound": [], "inbound_policy": "ACCEPT", "outbound": [], "outbound_policy": "DROP"}


def refused(call, *args, **kwargs) -> EmuApiError:
    with pytest.raises(EmuApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_bad_create_names_every_invalid_field_type_first(backend):
    error = refused(backend.create_instance, region="us-fakeregion", type="g6-fake-plan")
    assert error.to_json() == {
        "errors": [
            {"field": "type", "reason": "A valid plan type by that ID was not found"},
            {"field": "region", "reason": "region is not valid"},
        ]
    }
    assert str(error) == "[400] type: A valid plan type by that ID was not found; region: region is not valid"


def test_plans_carry_regional_prices_and_regions_their_site_type(backend):
    standard = backend.get_type("g6-standard-6")
    assert standard["region_prices"][0]["id"] == "br-gru" and standard["region_prices"][0]["hourly"] > 0
    assert {region["site_type"] for region in backend.list_regions()} == {"core"}
    assert "Cloud Firewall" in backend.get_region("us-east")["capabilities"]


def test_a_cold_resize_is_queued_then_resizing_then_boots_again(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    backend.resize_instance(linode["id"], type="g6-standard-1")
    assert backend.get_instance(linode["id"])["status"] == "running"  # queued: linode_resize_create
    assert refused(backend.boot_instance, linode["id"]).reason == "Linode busy."
    clock.advance(10)
    assert backend.get_instance(linode["id"])["status"] == "resizing"
    run_until_idle(backend, clock)
    resized = backend.get_instance(linode["id"])
    assert (resized["status"], resized["type"], resized["specs"]["disk"]) == ("running", "g6-standard-1", 51200)
    assert backend.list_disks(linode["id"])[0]["size"] == 51200 - 512
    assert [e["status"] for e in events_of(backend, "linode_resize")] == ["finished"]


def test_a_warm_resize_keeps_the_linode_running(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    backend.resize_instance(linode["id"], type="g6-standard-2", migration_type="warm", allow_auto_disk_resize=False)
    clock.advance(11)
    assert backend.get_instance(linode["id"])["status"] == "running"
    run_until_idle(backend, clock)
    assert backend.get_instance(linode["id"])["type"] == "g6-standard-2"
    assert backend.list_disks(linode["id"])[0]["size"] == 25600 - 512


def test_a_resize_must_fit_the_disks_and_name_a_plan(backend, clock):
    linode = create_linode(backend, type="g6-standard-1")
    run_until_idle(backend, clock)
    assert refused(backend.resize_instance, linode["id"], type="g6-nanode-1").field == "type"
    error = refused(backend.resize_instance, linode["id"], type="g6-nope", migration_type="hot")
    assert [field for field, _ in error.problems] == ["type", "migration_type"]


def test_a_root_password_is_reset_on_an_offline_linode(backend, clock):
    linode = create_linode(backend)
    run_until_idle(backend, clock)
    assert "shut down" in refused(backend.reset_root_password, linode["id"], "aComplex@Password123").reason
    backend.shutdown_instance(linode["id"])
    run_until_idle(backend, clock)
    assert refused(backend.reset_root_password, linode["id"], "short").field == "root_pass"
    backend.reset_root_password(linode["id"], "aComplex@Password123")
    assert events_of(backend, "password_reset")[-1]["status"] == "notification"


def test_transfer_addresses_and_the_private_ip(backend):
    linode = create_linode(backend, private_ip=True)
    public, private = linode["ipv4"]
    assert private.startswith("192.168.128.")
    assert backend.get_instance_transfer(linode["id"]) == {"used": 0, "quota": 1000, "billable": 0}
    ips = backend.list_instance_ips(linode["id"])
    assert [ip["address"] for ip in ips["ipv4"]["public"]] == [public]
    assert (ips["ipv4"]["private"][0]["prefix"], ips["ipv4"]["private"][0]["public"]) == (17, False)
    assert ips["ipv6"]["slaac"]["address"] == linode["ipv6"].split("/")[0]
    info = backend.get_ip(public)
    assert (info["linode_id"], info["prefix"], info["region"], info["type"]) == (linode["id"], 24, "us-east", "ipv4")
    assert refused(backend.get_ip, "203.0.113.9").status == 404


def test_disk_encryption_follows_the_linode_and_its_rebuild(backend, clock):
    linode = create_linode(backend, disk_encryption="disabled")
    assert linode["disk_encryption"] == "disabled"
    assert {disk["disk_encryption"] for disk in backend.list_disks(linode["id"])} == {"disabled"}
    assert refused(create_linode, backend, label="web-2", disk_encryption="maybe").field == "disk_encryption"
    run_until_idle(backend, clock)
    rebuilt = backend.rebuild_instance(
        linode["id"], image="linode/debian12", root_pass="aComplex@Pass1", disk_encryption="enabled"
    )
    assert rebuilt["disk_encryption"] == "enabled" and linode["capabilities"] == ["Block Storage Encryption"]


# ---------------------------------------------------------------- volumes


def test_volumes_resize_up_and_clone_when_active(backend, clock):
    volume = backend.create_volume(label="data", region="us-east", encryption="enabled")
    assert volume["encryption"] == "enabled"
    assert "not active" in refused(backend.resize_volume, volume["id"], 30).reason
    run_until_idle(backend, clock)
    assert refused(backend.resize_volume, volume["id"], 20).field == "size"
    assert backend.resize_volume(volume["id"], 30)["status"] == "resizing"
    run_until_idle(backend, clock)
    grown = backend.get_volume(volume["id"])
    assert (grown["size"], grown["status"]) == (30, "active")
    clone = backend.clone_volume(volume["id"], "data-copy")
    assert (clone["size"], clone["status"], clone["encryption"]) == (30, "creating", "enabled")
    run_until_idle(backend, clock)
    assert backend.get_volume(clone["id"])["status"] == "active"
    assert [e["status"] for e in events_of(backend, "volume_clone")] == ["finished"]
    assert backend.list_volume_types()[0]["id"] == "volume"


def test_a_bad_volume_names_every_invalid_field(backend):
    error = refused(backend.create_volume, label=None, size=5, region="mars", encryption="yes")
    assert [field for field, _ in error.problems] == ["label", "size", "region", "encryption"]


# ---------------------------------------------------------------- images


def test_an_uploaded_image_becomes_available_in_its_region(backend, clock):
    created = backend.create_image_upload(label="uploaded", region="us-central", description="d", tags=["tests"])
    image = created["image"]
    assert (image["status"], image["tags"]) == ("pending_upload", ["tests"])
    image_id, _, signature = created["upload_path"].rpartition("/")
    assert refused(backend.receive_image_upload, image_id, "wrong", b"x").status == 403
    backend.receive_image_upload(image_id, signature, b"\x1f\x8b" + b"0" * 100)
    assert refused(backend.receive_image_upload, image_id, signature, b"again").status == 403
    run_until_idle(backend, clock)
    ready = backend.get_image(image_id)
    assert (ready["status"], ready["regions"]) == ("available", [{"region": "us-central", "status": "available"}])
    assert events_of(backend, "image_upload")[-1]["status"] == "finished"


def test_an_upload_path_is_the_image_id_and_a_signature(backend):
    image = backend.create_image_upload(label="uploaded", region="us-east")["image"]
    assert upload_path(backend._images[image["id"]]).startswith(image["id"] + "/")


def test_replication_sets_the_regions_of_an_available_image(backend, clock):
    created = backend.create_image_upload(label="uploaded", region="us-east")
    image_id, _, signature = created["upload_path"].rpartition("/")
    assert "not available" in refused(backend.replicate_image, image_id, ["eu-west"]).reason
    backend.receive_image_upload(image_id, signature, b"data")
    run_until_idle(backend, clock)
    replicated = backend.replicate_image(image_id, ["us-east", "eu-west"])
    assert [region["region"] for region in replicated["regions"]] == ["us-east", "eu-west"]
    assert refused(backend.replicate_image, image_id, ["mars"]).field == "region"


# ---------------------------------------------------------------- NodeBalancers and Firewalls


def test_nodebalancers_have_a_type_udp_settings_and_types(backend):
    nodebalancer = backend.create_nodebalancer(
        region="us-east", client_udp_sess_throttle=5, type="premium", backend_connectivity="ipv6"
    )
    assert (nodebalancer["type"], nodebalancer["client_udp_sess_throttle"]) == ("premium", 5)
    error = refused(backend.create_nodebalancer, region="us-east", type="deluxe", client_udp_sess_throttle=99)
    assert [field for field, _ in error.problems] == ["client_udp_sess_throttle", "type"]
    config = backend.create_nodebalancer_config(nodebalancer["id"], {"protocol": "udp", "udp_check_port": 1234})
    assert (config["udp_check_port"], config["udp_session_timeout"]) == (1234, 2)
    assert backend.balancer_configs() == []  # UDP ports are not proxied
    assert backend.list_nodebalancer_types()[0]["id"] == "nodebalancer"


def test_firewall_rules_keep_their_versions(backend):
    firewall = backend.create_firewall(label="fw-web", rules=RULES)
    first = firewall["rules"]
    second = backend.update_firewall_rules(firewall["id"], {**RULES, "inbound_policy": "DROP"})
    assert (first["version"], second["version"]) == (1, 2) and first["fingerprint"] != second["fingerprint"]
    versions = backend.list_firewall_rule_versions(firewall["id"])
    assert [(v["version"], v["rules"]["inbound_policy"]) for v in versions] == [(1, "ACCEPT"), (2, "DROP")]
    assert backend.get_firewall_rule_version(firewall["id"], 1) == first
    assert refused(backend.get_firewall_rule_version, firewall["id"], 3).status == 404


def test_applying_firewalls_needs_the_linode(backend):
    linode = create_linode(backend)
    assert backend.apply_instance_firewalls(linode["id"]) is None
    assert refused(backend.apply_instance_firewalls, 1).status == 404


def test_no_two_families_define_the_same_method():
    """The families are mixins of one facade: a name defined twice would silently shadow the other."""
    owners: dict[str, list[str]] = {}
    for family in Backend.__mro__[1:-1]:
        for name, member in vars(family).items():
            if inspect.isfunction(member):
                owners.setdefault(name, []).append(family.__name__)
    assert {name: found for name, found in owners.items() if len(found) > 1} == {}
    assert backend_module.Backend is Backend
