"""The backend's verbs without HTTP: validation, ids, cascades, tags, volumes, NodeBalancers, persistence."""

from __future__ import annotations

import base64
import json

import pytest

from linode_emu.addresses import loopback_address
from linode_emu.backend import Backend
from linode_emu.errors import EmuApiError
from linode_emu.store import StateStore
from linode_emu.transitions import NOMINAL_SECONDS, TransitionPolicy
from tests.support.emulator_helpers import (
    API_DATE,
    ROOT_PASS,
    ManualClock,
    create_linode,
    events_of,
    run_until_idle,
)


def refused(call, *args, **kwargs) -> EmuApiError:
    with pytest.raises(EmuApiError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.fixture
def quick(make_backend):
    """A backend whose jobs finish on the next read."""
    return make_backend(policy="immediate")


# ---------------------------------------------------------------- instances


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"region": None}, "region", "region is required"),
        ({"region": "mars-1"}, "region", "region is not valid"),
        ({"type": "g6-huge-99"}, "type", "A valid plan type by that ID was not found"),
        ({"image": "linode/windows"}, "image", "image is not valid"),
        ({"root_pass": None}, "root_pass", "root_pass is required when deploying an image"),
        ({"root_pass": "short"}, "root_pass", "Length must be 7-128 characters"),
        ({"label": "ab"}, "label", "Length must be 3-64 characters"),
        ({"label": "x" * 65}, "label", "Length must be 3-64 characters"),
        ({"label": "9lives"}, "label", None),
        ({"label": "web--1"}, "label", None),
        ({"label": "web__1"}, "label", None),
        ({"label": "web..1"}, "label", None),
        ({"label": "web 1"}, "label", None),
        ({"tags": ["ab"]}, "tags", "Length must be 3-50 characters"),
        ({"user_data": "not base64!"}, "metadata.user_data", "user_data must be base64 encoded"),
        ({"user_data": "A" * 20000}, "metadata.user_data", None),
    ],
)
def test_create_instance_validation_names_the_field(backend, changes, field, reason):
    error = refused(create_linode, backend, **{"label": "web-1", **changes})
    assert (error.status, error.field) == (400, field)
    if reason:
        assert error.reason == reason


def test_credentials_may_be_keys_instead_of_a_password(backend):
    linode = create_linode(backend, root_pass=None, authorized_keys=["ssh-ed25519 AAAA test"])
    assert linode["status"] == "provisioning"


def test_labels_are_unique_among_linodes(backend):
    create_linode(backend, label="web-1")
    error = refused(create_linode, backend, label="web-1")
    assert (error.status, error.reason, error.field) == (
        400,
        "Label must be unique among your linodes",
        "label",
    )
    other = create_linode(backend, label="web-2")
    error = refused(backend.update_instance, other["id"], {"label": "web-1"})
    assert error.field == "label"
    assert backend.update_instance(other["id"], {"label": "web-2"})["label"] == "web-2"


def test_default_label_and_fields(backend):
    linode = backend.create_instance(
        region="us-central", type="g6-standard-2", image="linode/debian11", root_pass=ROOT_PASS
    )
    assert linode["label"] == f"linode{linode['id']}"
    assert (linode["specs"]["disk"], linode["specs"]["vcpus"], linode["alerts"]["cpu"]) == (81920, 2, 180)
    assert API_DATE.match(linode["created"]) and API_DATE.match(linode["updated"])
    assert linode["has_user_data"] is False


def test_user_data_is_kept_but_never_shown(backend):
    user_data = base64.b64encode(b"#cloud-config\nhostname: web-1\n").decode()
    linode = create_linode(backend, user_data=user_data)
    assert linode["has_user_data"] is True
    assert user_data not in json.dumps(linode)
    assert backend._instances[linode["id"]].user_data == user_data


def test_user_data_needs_a_cloud_init_image(quick):
    linode = create_linode(quick, booted=False)
    quick.get_instance(linode["id"])
    plain = quick.create_image(disk_id=quick.list_disks(linode["id"])[0]["id"])
    quick.get_image(plain["id"])
    error = refused(create_linode, quick, label="web-2", image=plain["id"], user_data="I2Nsb3VkLWNvbmZpZwo=")
    assert error.field == "metadata.user_data"


def test_create_makes_a_root_and_a_swap_disk_and_one_config(backend):
    linode = create_linode(backend, type="g6-standard-1")
    root, swap = backend.list_disks(linode["id"])
    assert (root["filesystem"], root["size"], swap["filesystem"], swap["size"]) == (
        "ext4",
        51200 - 512,
        "swap",
        512,
    )
    (config,) = backend.list_configs(linode["id"])
    assert config["devices"]["sda"] == {"disk_id": root["id"], "volume_id": None}
    assert config["devices"]["sdb"] == {"disk_id": swap["id"], "volume_id": None}
    assert config["devices"]["sdc"] is None
    assert backend.get_config(linode["id"], config["id"]) == config
    assert backend.get_disk(linode["id"], root["id"]) == root
    assert refused(backend.get_disk, linode["id"] + 1, root["id"]).status == 404


def test_each_linode_gets_its_own_loopback_address(backend):
    addresses = [create_linode(backend, label=f"web-{n}")["ipv4"] for n in range(3)]
    assert addresses == [["127.0.1.1"], ["127.0.1.2"], ["127.0.1.3"]]


def test_loopback_addresses_skip_network_and_broadcast_octets():
    assert loopback_address(0) == "127.0.1.1"
    assert loopback_address(253) == "127.0.1.254"
    assert loopback_address(254) == "127.0.2.1"
    assert loopback_address(254 * 255) == "127.1.1.1"
    assert len({loopback_address(n) for n in range(100_000)}) == 100_000


def test_ids_grow_and_are_never_reused(quick):
    first = create_linode(quick, label="web-1")
    quick.delete_instance(first["id"])
    quick.list_instances()
    quick.reset()
    second = create_linode(quick, label="web-1")
    assert second["id"] > first["id"]
    assert min(d["id"] for d in quick.list_disks(second["id"])) > first["id"]


def test_unknown_objects_are_404(backend):
    for call, args in [
        (backend.get_instance, (1,)),
        (backend.boot_instance, (1,)),
        (backend.get_image, ("private/1",)),
        (backend.get_volume, (1,)),
        (backend.get_nodebalancer, (1,)),
        (backend.get_event, (1,)),
        (backend.get_region, ("mars-1",)),
        (backend.get_type, ("g6-huge-99",)),
        (backend.tagged_objects, ("nothing",)),
    ]:
        error = refused(call, *args)
        assert (error.status, error.reason) == (404, "Not found")


def test_update_instance_changes_only_given_fields(backend):
    linode = create_linode(backend, tags=["fleet:web"])
    updated = backend.update_instance(linode["id"], {"tags": ["fleet:web", "v:1.4.2"], "group": "web"})
    assert (updated["label"], updated["tags"], updated["group"]) == ("web-1", ["fleet:web", "v:1.4.2"], "web")
    assert events_of(backend, "linode_update")[0]["status"] == "notification"


def test_delete_detaches_volumes_and_drops_nodebalancer_nodes(quick):
    linode = create_linode(quick)
    other = create_linode(quick, label="web-2")
    volume = quick.create_volume(label="data", size=10, region="us-east", linode_id=linode["id"])
    nodebalancer = quick.create_nodebalancer(region="us-east", label="front")
    config = quick.create_nodebalancer_config(nodebalancer["id"], {"port": 80})
    address = linode["ipv4"][0]
    quick.create_nodebalancer_node(nodebalancer["id"], config["id"], label="web-1", address=f"{address}:8080")
    kept = quick.create_nodebalancer_node(
        nodebalancer["id"], config["id"], label="web-2", address=f"{other['ipv4'][0]}:8080"
    )

    quick.delete_instance(linode["id"])
    assert quick.get_volume(volume["id"])["linode_id"] is None
    assert quick.list_nodebalancer_nodes(nodebalancer["id"], config["id"]) == [kept]
    actions = [event["action"] for event in quick.list_events()]
    assert {"volume_detach", "nodebalancer_node_delete", "linode_delete"} <= set(actions)


# ---------------------------------------------------------------- images


def test_image_update_and_delete(quick):
    linode = create_linode(quick, booted=False)
    quick.get_instance(linode["id"])
    image = quick.create_image(
        disk_id=quick.list_disks(linode["id"])[0]["id"], label="web-v1", description="v1"
    )
    updated = quick.update_image(image["id"], {"label": "web-v1b", "tags": ["fleet:web"]})
    assert (updated["label"], updated["description"], updated["tags"]) == ("web-v1b", "v1", ["fleet:web"])
    assert [i["id"] for i in quick.list_images()][-1] == image["id"]
    quick.delete_image(image["id"])
    assert refused(quick.get_image, image["id"]).status == 404
    assert refused(quick.delete_image, "linode/debian12").status == 403


def test_public_images_carry_cloud_init(backend):
    public = {image["id"]: image for image in backend.list_images() if image["is_public"]}
    assert set(public) == {"linode/debian12", "linode/debian11", "linode/ubuntu24.04"}
    assert all(image["capabilities"] == ["cloud-init"] for image in public.values())


# ---------------------------------------------------------------- volumes


def test_volume_attach_detach_delete(quick):
    linode = create_linode(quick)
    quick.get_instance(linode["id"])
    volume = quick.create_volume(label="data-1", size=10, region="us-east", tags=["fleet:web"])
    assert volume["filesystem_path"] == "/dev/disk/by-id/scsi-0Linode_Volume_data-1"
    attached = quick.attach_volume(volume["id"], linode["id"])
    assert (attached["linode_id"], attached["linode_label"]) == (linode["id"], "web-1")
    (config,) = quick.list_configs(linode["id"])
    assert config["devices"]["sdc"] == {"disk_id": None, "volume_id": volume["id"]}
    assert quick.list_instance_volumes(linode["id"]) == [quick.get_volume(volume["id"])]
    assert refused(quick.attach_volume, volume["id"], linode["id"]).field == "linode_id"
    assert refused(quick.delete_volume, volume["id"]).status == 400
    quick.detach_volume(volume["id"])
    assert quick.list_configs(linode["id"])[0]["devices"]["sdc"] is None
    quick.delete_volume(volume["id"])
    assert refused(quick.get_volume, volume["id"]).status == 404
    actions = [event["action"] for event in reversed(quick.list_events())]
    assert actions[-4:] == ["volume_create", "volume_attach", "volume_detach", "volume_delete"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"label": None}, "label"),
        ({"label": "bad label"}, "label"),
        ({"size": 5}, "size"),
        ({"size": 20000}, "size"),
        ({"region": None}, "region"),
        ({"region": "eu-west", "linode_id": "linode"}, "linode_id"),
    ],
)
def test_volume_validation(quick, params, field):
    linode = create_linode(quick)
    if params.get("linode_id") == "linode":
        params = {**params, "linode_id": linode["id"]}
    error = refused(quick.create_volume, **{"label": "data", "size": 20, "region": "us-east", **params})
    assert (error.status, error.field) == (400, field)


def test_volume_in_another_region_cannot_attach(quick):
    linode = create_linode(quick)
    volume = quick.create_volume(label="data", size=10, region="eu-west")
    assert refused(quick.attach_volume, volume["id"], linode["id"]).field == "linode_id"


# ---------------------------------------------------------------- nodebalancers


def test_nodebalancer_crud(quick):
    nodebalancer = quick.create_nodebalancer(region="us-east", label="front-1", tags=["fleet:web"])
    assert nodebalancer["hostname"].endswith(".ip.linodeusercontent.com")
    config = quick.create_nodebalancer_config(
        nodebalancer["id"], {"port": 443, "protocol": "tcp", "check": "connection"}
    )
    assert (config["port"], config["algorithm"], config["nodes_status"]) == (
        443,
        "roundrobin",
        {"up": 0, "down": 0},
    )
    node = quick.create_nodebalancer_node(
        nodebalancer["id"], config["id"], label="web-1", address="127.0.1.1:80"
    )
    assert (node["mode"], node["weight"], node["status"]) == ("accept", 100, "unknown")
    drained = quick.update_nodebalancer_node(nodebalancer["id"], config["id"], node["id"], {"mode": "drain"})
    assert drained["mode"] == "drain"
    assert quick.update_nodebalancer(nodebalancer["id"], {"label": "front-2"})["label"] == "front-2"
    assert quick.update_nodebalancer_config(nodebalancer["id"], config["id"], {"port": 8443})["port"] == 8443
    quick.delete_nodebalancer_node(nodebalancer["id"], config["id"], node["id"])
    assert quick.list_nodebalancer_nodes(nodebalancer["id"], config["id"]) == []
    quick.delete_nodebalancer_config(nodebalancer["id"], config["id"])
    quick.delete_nodebalancer(nodebalancer["id"])
    assert quick.list_nodebalancers() == []
    actions = {event["action"] for event in quick.list_events()}
    assert {"nodebalancer_node_create", "nodebalancer_node_update", "nodebalancer_node_delete"} <= actions


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"port": 0}, "port"),
        ({"protocol": "sctp"}, "protocol"),
        ({"check": "http"}, "check_path"),
        ({"check_timeout": 31}, "check_timeout"),
    ],
)
def test_nodebalancer_config_validation(quick, settings, field):
    nodebalancer = quick.create_nodebalancer(region="us-east")
    assert refused(quick.create_nodebalancer_config, nodebalancer["id"], settings).field == field


def test_nodebalancer_ports_are_unique(quick):
    nodebalancer = quick.create_nodebalancer(region="us-east")
    quick.create_nodebalancer_config(nodebalancer["id"], {})
    assert refused(quick.create_nodebalancer_config, nodebalancer["id"], {"port": 80}).field == "port"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"address": "web-1:80"}, "address"),
        ({"address": "127.0.1.1"}, "address"),
        ({"address": "127.0.1.1:70000"}, "address"),
        ({"label": "x"}, "label"),
        ({"weight": 0}, "weight"),
        ({"mode": "sleep"}, "mode"),
    ],
)
def test_node_validation(quick, params, field):
    nodebalancer = quick.create_nodebalancer(region="us-east")
    config = quick.create_nodebalancer_config(nodebalancer["id"], {})
    params = {"label": "web-1", "address": "127.0.1.1:80", **params}
    assert refused(quick.create_nodebalancer_node, nodebalancer["id"], config["id"], **params).field == field


# ---------------------------------------------------------------- tags


def test_tags_are_listed_and_resolve_to_objects(quick):
    linode = create_linode(quick, tags=["fleet:web", "immutable"])
    volume = quick.create_volume(label="data", size=10, region="us-east", tags=["fleet:web"])
    quick.create_nodebalancer(region="us-east", tags=["immutable"])
    assert quick.list_tags() == [{"label": "fleet:web"}, {"label": "immutable"}]
    tagged = quick.tagged_objects("fleet:web")
    assert [(entry["type"], entry["data"]["id"]) for entry in tagged] == [
        ("linode", linode["id"]),
        ("volume", volume["id"]),
    ]
    quick.create_tag("v:1.0.0", linodes=[linode["id"]])
    assert quick.get_instance(linode["id"])["tags"] == ["fleet:web", "immutable", "v:1.0.0"]
    quick.delete_tag("fleet:web")
    assert quick.get_instance(linode["id"])["tags"] == ["immutable", "v:1.0.0"]
    assert quick.get_volume(volume["id"])["tags"] == []
    assert refused(quick.delete_tag, "fleet:web").status == 404


def test_events_are_newest_first_with_linode_shapes(quick):
    linode = create_linode(quick)
    events = quick.list_events()
    assert [event["id"] for event in events] == sorted((event["id"] for event in events), reverse=True)
    event = quick.get_event(events[-1]["id"])
    assert event["entity"] == {
        "id": linode["id"],
        "label": "web-1",
        "type": "linode",
        "url": f"/v4/linode/instances/{linode['id']}",
    }
    assert API_DATE.match(event["created"])


def test_event_entities_carry_integer_ids_an_image_its_number_and_messages_are_strings(quick):
    linode = create_linode(quick, booted=False)
    quick.get_instance(linode["id"])
    image = quick.create_image(disk_id=quick.list_disks(linode["id"])[0]["id"], label="web-v1")
    quick.update_image(image["id"], {"label": "web-v1b"})
    number = int(image["id"].removeprefix("private/"))
    rebuilt_from_image = quick.rebuild_instance(linode["id"], image=image["id"], root_pass=ROOT_PASS)
    assert rebuilt_from_image["id"] == linode["id"]
    image_refs = [
        ref
        for event in quick.list_events()
        for ref in (event["entity"], event["secondary_entity"])
        if ref and ref["type"] == "image" and ref["id"] != "linode/debian12"
    ]
    assert {(ref["id"], ref["url"]) for ref in image_refs} == {(number, f"/v4/images/private/{number}")}
    assert len(image_refs) == 3  # disk_imagize, image_update, linode_rebuild
    events = quick.list_events()
    assert all(isinstance(event["message"], str) for event in events)
    assert all(isinstance(event["entity"]["id"], int) for event in events)


def test_an_event_saved_with_a_null_message_comes_back_with_an_empty_one(tmp_path, clock):
    store = StateStore(tmp_path / "state")
    create_linode(Backend(store, clock=clock))
    state = store.load()
    state["events"] = [{**event, "message": None} for event in state["events"]]
    store.save(state)
    assert {event["message"] for event in Backend(store, clock=clock).list_events()} == {""}


# ---------------------------------------------------------------- persistence


def test_state_survives_a_new_backend_on_the_same_directory(tmp_path, clock):
    store_dir = tmp_path / "state"
    first = Backend(StateStore(store_dir), clock=clock, policy=TransitionPolicy("immediate"))
    linode = create_linode(first, tags=["fleet:web"])
    first.create_volume(label="data", size=10, region="us-east", linode_id=linode["id"])
    first.fail_next_boot(linode["id"])
    before = (first.list_instances(), first.list_volumes(), first.list_events(), first.list_tags())

    second = Backend(StateStore(store_dir), clock=clock, policy=TransitionPolicy("immediate"))
    assert (
        second.list_instances(),
        second.list_volumes(),
        second.list_events(),
        second.list_tags(),
    ) == before
    newer = create_linode(second, label="web-2")
    assert newer["id"] > linode["id"]
    assert newer["ipv4"] != linode["ipv4"]


def test_a_capture_interrupted_by_a_restart_completes(tmp_path, clock):
    store_dir = tmp_path / "state"
    first = Backend(StateStore(store_dir), clock=clock)
    linode = create_linode(first, booted=False)
    run_until_idle(first, clock)
    image = first.create_image(disk_id=first.list_disks(linode["id"])[0]["id"])
    clock.advance(NOMINAL_SECONDS["disk_imagize"] / 2)
    assert first.get_image(image["id"])["status"] == "creating"

    later = ManualClock(clock.now() + NOMINAL_SECONDS["disk_imagize"])
    second = Backend(StateStore(store_dir), clock=later)
    assert second.get_image(image["id"])["status"] == "available"
    (imagize,) = events_of(second, "disk_imagize")
    assert (imagize["status"], imagize["duration"]) == ("finished", NOMINAL_SECONDS["disk_imagize"])


def test_every_change_is_saved(tmp_path, clock):
    backend = Backend(StateStore(tmp_path / "state"), clock=clock)
    linode = create_linode(backend)
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert [instance["id"] for instance in saved["instances"]] == [linode["id"]]
    assert saved["counters"]["linode"] == linode["id"] + 1


def test_unknown_state_version_is_refused(tmp_path):
    StateStore(tmp_path).save({"version": 999})
    with pytest.raises(ValueError, match="state version"):
        Backend(StateStore(tmp_path))
