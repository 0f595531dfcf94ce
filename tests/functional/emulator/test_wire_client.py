"""The emulator driven by the official client, linode_api4, unmodified."""

from __future__ import annotations

import datetime

import pytest
from linode_api4 import (
    ApiError,
    Image,
    Instance,
    LinodeClient,
    NodeBalancerConfig,
    Volume,
)
from linode_api4.objects.filtering import order_by
from linode_api4.polling import EventError

from tests.support.emulator import EMULATOR_TOKEN, wait_until
from tests.support.emulator_helpers import ROOT_PASS


def fresh(obj):
    """The object with its cached properties dropped, so the next read asks the API."""
    obj.invalidate()
    return obj


def create(client: LinodeClient, label="web-1", **kwargs) -> Instance:
    params = {"image": "linode/debian12", "root_pass": ROOT_PASS, "label": label, **kwargs}
    return client.linode.instance_create("g6-nanode-1", "us-east", **params)


def wait_status(obj, status: str):
    return wait_until(lambda: fresh(obj).status == status and obj)


def gone(client: LinodeClient, cls, obj_id) -> bool:
    """True once loading the object answers 404."""
    try:
        client.load(cls, obj_id)
    except ApiError as error:
        return error.status == 404
    return False


def api_error(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_instance_lifecycle(linode_client, emulator_control):
    instance = create(linode_client, tags=["fleet:web"])
    assert (instance.status, instance.label, instance.tags) == ("provisioning", "web-1", ["fleet:web"])
    assert isinstance(instance.created, datetime.datetime)
    wait_status(instance, "running")

    assert instance.shutdown() is True
    wait_status(instance, "offline")
    assert instance.boot() is True
    wait_status(instance, "running")
    assert instance.reboot() is True
    wait_status(instance, "running")
    emulator_control.set_transitions(time_scale=0.5)  # the delete lasts 1 s: long enough to be seen deleting
    assert instance.delete() is True
    assert fresh(instance).status == "deleting"
    wait_until(lambda: gone(linode_client, Instance, instance.id))


def test_instance_disks_configs_and_update(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    instance = create(linode_client)
    root, swap = instance.disks
    assert (root.filesystem, swap.filesystem, swap.size) == ("ext4", "swap", 512)
    (config,) = instance.configs
    assert config.devices.sda.id == root.id
    instance.label = "web-renamed"
    instance.tags = ["fleet:web", "v:2"]
    assert instance.save() is True
    reloaded = linode_client.load(Instance, instance.id)
    assert (reloaded.label, reloaded.tags) == ("web-renamed", ["fleet:web", "v:2"])


def test_rebuild_keeps_the_instance(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    instance = create(linode_client)
    wait_status(instance, "running")
    assert instance.rebuild("linode/ubuntu24.04", root_pass=ROOT_PASS) is True
    assert instance.status == "rebuilding"
    wait_status(instance, "running")
    assert linode_client.load(Instance, instance.id).image.id == "linode/ubuntu24.04"


def test_listing_250_instances_over_pages_is_stable(emulator, linode_client, emulator_control):
    for n in range(250):
        emulator.backend.create_instance(
            region="us-east", type="g6-nanode-1", label=f"web-{n:03d}", tags=["even" if n % 2 == 0 else "odd"]
        )
    emulator_control.clear_requests()
    instances = linode_client.linode.instances()
    assert len(instances) == 250
    labels = [instance.label for instance in instances]
    assert labels == [f"web-{n:03d}" for n in range(250)]
    assert emulator_control.stats()["GET /linode/instances"] == 3

    small_pages = LinodeClient(EMULATOR_TOKEN, base_url=emulator.api_url, page_size=25)
    assert [instance.id for instance in small_pages.linode.instances()] == [
        instance.id for instance in instances
    ]
    small_pages.session.close()

    even = linode_client.linode.instances(Instance.tags == "even")
    assert len(even) == 125
    last_two = linode_client.linode.instances(
        Instance.label.contains("web-24"), order_by(Instance.label, desc=True)
    )
    assert [instance.label for instance in last_two][:2] == ["web-249", "web-248"]


def test_errors_carry_status_and_reasons(linode_client):
    error = api_error(linode_client.load, Instance, 123)
    assert (error.status, error.errors) == (404, ["Not found"])
    create(linode_client)
    error = api_error(create, linode_client)
    assert (error.status, error.errors) == (400, ["Label must be unique among your linodes"])
    assert error.json == {"errors": [{"reason": "Label must be unique among your linodes", "field": "label"}]}
    error = api_error(linode_client.linode.instance_create, "g6-nanode-1", "mars-1", label="web-2")
    assert (error.status, error.json["errors"][0]["field"]) == (400, "region")
    error = api_error(lambda: len(linode_client.linode.instances(Instance.status == "running")))
    assert error.json == {"errors": [{"reason": "Cannot filter on status", "field": "X-Filter"}]}


def test_capture_an_image_and_boot_from_it(linode_client, emulator_control):
    instance = create(linode_client, booted=False)
    wait_status(instance, "offline")
    disk = instance.disks[0]
    image = linode_client.images.create(
        disk, label="web-v1", description="fleet web 1.0", cloud_init=True, tags=["fleet:web"]
    )
    assert image.id.startswith("private/")
    assert (image.status, image.type, image.is_public, image.capabilities) == (
        "creating",
        "manual",
        False,
        ["cloud-init"],
    )

    error = api_error(instance.boot)
    assert (error.status, error.errors) == (400, ["Linode busy."])

    emulator_control.set_transitions(policy="immediate")
    loaded = linode_client.load(Image, image.id)
    assert loaded.status == "available"
    assert [region.region for region in loaded.regions] == ["us-east"]
    clone = create(linode_client, label="web-2", image=image.id)
    wait_status(clone, "running")
    number = int(image.id.removeprefix("private/"))
    (imagize,) = [event for event in linode_client.account.events() if event.action == "disk_imagize"]
    assert (imagize.entity.id, imagize.entity.type, imagize.message) == (instance.id, "linode", "")
    secondary = imagize.secondary_entity
    assert (secondary.id, secondary.type, secondary.label) == (number, "image", "web-v1")
    assert secondary.url == f"/v4/images/private/{number}"
    assert loaded.delete() is True
    assert api_error(linode_client.load, Image, image.id).status == 404


def test_volume_create_attach_detach_delete(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    instance = create(linode_client)
    wait_status(instance, "running")
    volume = linode_client.volume_create("data-1", region="us-east", size=10, tags=["fleet:web"])
    assert volume.status == "creating"
    volume = linode_client.load(Volume, volume.id)
    assert volume.status == "active"
    assert volume.attach(instance) is True
    assert volume.linode_id == instance.id
    assert [attached.id for attached in instance.volumes()] == [volume.id]
    volume.detach()
    assert linode_client.load(Volume, volume.id).linode_id is None
    assert volume.delete() is True
    assert len(linode_client.volumes()) == 0


def test_nodebalancer_configs_and_nodes(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    instance = create(linode_client)
    address = f"{instance.ipv4[0]}:8080"
    nodebalancer = linode_client.nodebalancer_create("us-east", label="front-1", tags=["fleet:web"])
    config = nodebalancer.config_create(port=80, protocol="http", check="connection")
    node = config.node_create("web-1", address, mode="accept", weight=50)
    assert (node.address, node.mode, node.weight) == (address, "accept", 50)
    config = linode_client.load(NodeBalancerConfig, config.id, nodebalancer.id)
    assert [n.label for n in config.nodes] == ["web-1"]
    node.mode = "drain"
    assert node.save() is True

    instance.delete()
    config = linode_client.load(NodeBalancerConfig, config.id, nodebalancer.id)
    assert len(config.nodes) == 0
    assert nodebalancer.delete() is True


def test_event_poller_and_entity_free(linode_client):
    poller = linode_client.polling.event_poller_create("linode", "linode_create")
    instance = create(linode_client)
    poller.set_entity_id(instance.id)
    event = poller.wait_for_next_event_finished(timeout=10, interval=0.02)
    assert (event.status, event.action, event.entity.id) == ("finished", "linode_create", instance.id)
    linode_client.polling.wait_for_entity_free("linode", instance.id, timeout=10, interval=0.02)
    assert fresh(instance).status == "running"

    shutdown = linode_client.polling.event_poller_create("linode", "linode_shutdown", entity_id=instance.id)
    instance.shutdown()
    assert shutdown.wait_for_next_event_finished(timeout=10, interval=0.02).percent_complete == 100


def test_failed_boot_surfaces_as_event_error(linode_client, emulator_control):
    instance = create(linode_client, booted=False)
    wait_status(instance, "offline")
    emulator_control.fail_next_boot(instance.id)
    poller = linode_client.polling.event_poller_create("linode", "linode_boot", entity_id=instance.id)
    instance.boot()
    with pytest.raises(EventError):
        poller.wait_for_next_event_finished(timeout=10, interval=0.02)
    assert fresh(instance).status == "offline"


def test_catalogue_tags_and_events(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    assert [region.id for region in linode_client.regions()] == ["us-east", "us-central", "eu-west", "br-gru"]
    nanode = linode_client.linode.types()[0]
    assert (nanode.id, nanode.price.monthly, nanode.price.hourly) == ("g6-nanode-1", 5.0, 0.0075)
    instance = create(linode_client, tags=["fleet:web"])
    (tag,) = linode_client.tags()
    assert tag.label == "fleet:web"
    assert [obj.id for obj in tag.objects] == [instance.id]
    actions = [event.action for event in linode_client.account.events()]
    assert actions == ["linode_boot", "linode_create"]
