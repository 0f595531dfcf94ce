"""What linode_api4's own integration tests need, over HTTP with linode_api4 5.48 unmodified: disks,
configs, resize, root password, transfer and addresses, volume resize and clone, image upload and
replication, NodeBalancer UDP settings and types, Firewall rule versions, and a 400 naming every field."""

from __future__ import annotations

from io import BytesIO

import pytest
import requests
from linode_api4 import ApiError, Disk, Image, Instance, IPAddress, LinodeClient, NodeBalancerConfig, Volume

from tests.support.emulator import wait_until
from tests.support.emulator_helpers import ROOT_PASS

RULES = {"inbound": [], "inbound_policy": "ACCEPT", "outbound": [], "outbound_policy": "DROP"}


def create_instance(client: LinodeClient, label="web-1", type="g6-nanode-1", **kwargs) -> Instance:
    return client.linode.instance_create(
        type, "us-east", image="linode/debian12", root_pass=ROOT_PASS, label=label, **kwargs
    )


def api_error(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def settled(client: LinodeClient, linode_id: int, status: str) -> Instance:
    """The Linode, reloaded until it is ``status``."""
    return wait_until(lambda: (found := client.load(Instance, linode_id)).status == status and found)


def ready(client: LinodeClient, linode_id: int, disk_id: int) -> Disk:
    return wait_until(lambda: (disk := client.load(Disk, disk_id, linode_id)).status == "ready" and disk)


def test_a_bad_request_names_every_invalid_field(linode_client):
    error = api_error(linode_client.linode.instance_create, "g6-fake-plan", "us-fakeregion")
    assert str(error) == (
        "POST /v4/linode/instances: [400] type: A valid plan type by that ID was not found; "
        "region: region is not valid"
    )


def test_disks_resize_clone_create_delete_and_busy(linode_client):
    linode = create_instance(linode_client, booted=False)
    settled(linode_client, linode.id, "offline")
    root, swap = linode.disks
    assert root.resize(5000)
    with pytest.raises(ApiError) as busy:
        linode.disk_create(size=100, label="scratch")
    assert (busy.value.status, busy.value.errors) == (400, ["Linode busy."])
    assert ready(linode_client, linode.id, root.id).size == 5000
    copy = root.duplicate()
    assert ready(linode_client, linode.id, copy.id).size == 5000
    scratch = linode.disk_create(size=500, label="scratch")
    assert (scratch.linode_id, ready(linode_client, linode.id, scratch.id).label) == (linode.id, "scratch")
    swap.delete()
    wait_until(lambda: swap.id not in [disk.id for disk in linode_client.load(Instance, linode.id).disks])
    actions = {event.action for event in linode_client.account.events()}
    assert {"disk_resize", "disk_duplicate", "disk_create", "disk_delete"} <= actions


def test_configs_are_created_with_volumes_and_updated(linode_client):
    linode = create_instance(linode_client, type="g6-standard-6")
    volumes = [linode_client.volume_create(f"data-{n}", region="us-east", size=10) for n in range(12)]
    config = linode.config_create(volumes=volumes, label="many-volumes")
    devices = config._raw_json["devices"]
    assert len([device for device in devices.values() if device]) == 12 and "sdl" in devices
    config.label = "renamed"
    config.comments = "twelve volumes"
    assert config.save()
    reloaded = linode_client.load(Instance, linode.id).configs
    assert ("renamed", "twelve volumes") in [(c.label, c.comments) for c in reloaded]


def test_resize_password_transfer_and_addresses(linode_client):
    linode = create_instance(linode_client, private_ip=True)
    settled(linode_client, linode.id, "running")
    assert linode.resize("g6-standard-1")
    wait_until(lambda: linode_client.load(Instance, linode.id).type.id == "g6-standard-1")
    assert settled(linode_client, linode.id, "running").specs.disk == 51200
    linode.shutdown()
    settled(linode_client, linode.id, "offline")
    linode.reset_instance_root_password(root_password="aComplex@Password123")
    assert set(vars(linode.transfer)) >= {"used", "quota", "billable"}
    ips = linode.ips
    assert ips.ipv4.public[0].address == linode.ipv4[0]
    assert ips.ipv4.private[0].address.startswith("192.168.")
    info = linode_client.load(IPAddress, linode.ipv4[0])
    assert (info.linode_id, info.public, info.region.id) == (linode.id, True, "us-east")
    assert linode.apply_firewalls()


def test_volumes_resize_clone_types_and_encryption(linode_client):
    volume = linode_client.volume_create("data", region="us-east", encryption="enabled")
    wait_until(lambda: linode_client.load(Volume, volume.id).status == "active")
    assert volume.resize(21)
    wait_until(lambda: linode_client.load(Volume, volume.id).status == "active")
    clone = volume.clone("data-copy")
    assert (clone.label, linode_client.load(Volume, volume.id).encryption) == ("data-copy", "enabled")
    assert [volume_type.id for volume_type in linode_client.volumes.types()] == ["volume"]


def test_an_image_is_uploaded_and_replicated(linode_client):
    image = linode_client.image_upload("uploaded", "us-central", BytesIO(b"\x1f\x8b" + b"0" * 64), tags=["tests"])
    wait_until(lambda: linode_client.load(Image, image.id).status == "available")
    image.replicate(["us-central", "eu-west"])
    assert [region.region for region in image.regions] == ["us-central", "eu-west"]
    _, upload_to = linode_client.image_create_upload("second", "us-east")
    assert requests.put(upload_to + "x", data=b"nope", timeout=10).status_code == 403


def test_nodebalancers_with_udp_and_their_types(linode_client):
    nodebalancer = linode_client.nodebalancer_create("us-east", client_udp_sess_throttle=5, type="premium")
    config = nodebalancer.config_create(protocol="udp", udp_check_port=1234)
    loaded = linode_client.load(NodeBalancerConfig, config.id, nodebalancer.id)
    assert (loaded.protocol, loaded.udp_check_port, loaded.udp_session_timeout) == ("udp", 1234, 2)
    loaded.udp_check_port = 4321
    loaded.save()
    assert linode_client.load(NodeBalancerConfig, config.id, nodebalancer.id).udp_check_port == 4321
    assert [nb_type.id for nb_type in linode_client.nodebalancers.types()] == ["nodebalancer"]


def test_firewall_rules_have_versions(linode_client):
    firewall = linode_client.networking.firewall_create("fw-web", rules=RULES, status="enabled")
    firewall.update_rules({**RULES, "inbound_policy": "DROP"})
    assert firewall.rule_versions["results"] == 2
    assert firewall.get_rule_version(1)["inbound_policy"] == "ACCEPT"
    assert (firewall.rules.version, len(firewall.rules.fingerprint)) == (2, 8)
