"""Cloud Firewalls in the backend model, without HTTP: validation naming fields, devices and the one
enabled Firewall per object, cascades, events, persistence."""

from __future__ import annotations

import copy
import json

import pytest

from linode_emu.backend import Backend
from linode_emu.errors import EmuApiError
from linode_emu.store import StateStore
from linode_emu.transitions import TransitionPolicy
from tests.support.emulator_helpers import API_DATE, WEB_FIREWALL_RULES, create_linode, events_of

RULES = WEB_FIREWALL_RULES



def rules_only(rules: dict) -> dict:
    """A rules answer without its ``version`` and ``fingerprint``."""
    return {key: value for key, value in rules.items() if key not in ("version", "fingerprint")}

def refused(call, *args, **kwargs) -> EmuApiError:
    with pytest.raises(EmuApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def create_firewall(backend, label="fw-web", rules=None, **kwargs) -> dict:
    return backend.create_firewall(label=label, rules=copy.deepcopy(RULES if rules is None else rules), **kwargs)


def rule(**changes) -> dict:
    """RULES' inbound rule with ``changes`` (a value None drops the key)."""
    merged = {**RULES["inbound"][0], **changes}
    return {key: value for key, value in merged.items() if value is not None}


def with_inbound(*rules) -> dict:
    return {**RULES, "inbound": list(rules)}


def create_nodebalancer(backend, label="nb-web", **kwargs) -> dict:
    return backend.create_nodebalancer(region="us-east", label=label, **kwargs)


# ---------------------------------------------------------------- create, read, update


def test_create_answers_the_firewall_enabled_with_its_rules(backend):
    firewall = create_firewall(backend, tags=["fleet:web"])
    assert firewall["id"] >= 10_000_001
    assert (firewall["label"], firewall["status"], firewall["tags"]) == ("fw-web", "enabled", ["fleet:web"])
    assert rules_only(firewall["rules"]) == RULES
    assert firewall["rules"]["version"] == 1 and len(firewall["rules"]["fingerprint"]) == 8
    assert API_DATE.match(firewall["created"]) and firewall["created"] == firewall["updated"]
    assert set(firewall) == {"id", "label", "created", "updated", "status", "rules", "tags"}
    assert backend.get_firewall(firewall["id"]) == firewall
    assert backend.list_firewalls() == [firewall]
    assert rules_only(backend.get_firewall_rules(firewall["id"])) == RULES
    assert {"label": "fleet:web"} in backend.list_tags()


def test_a_rule_is_kept_with_the_keys_it_was_sent_with(backend):
    icmp = {"action": "ACCEPT", "protocol": "ICMP", "addresses": {"ipv4": ["0.0.0.0/0"]}, "extra": 1}
    firewall = create_firewall(backend, rules=with_inbound(icmp))
    assert firewall["rules"]["inbound"] == [
        {"action": "ACCEPT", "protocol": "ICMP", "addresses": {"ipv4": ["0.0.0.0/0"]}}
    ]


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        (None, "label is required"),
        ("ab", "Length must be 3-32 characters"),
        ("x" * 33, "Length must be 3-32 characters"),
        ("1st-fw", None),
        ("fw--web", None),
        ("fw__web", None),
        ("fw..web", None),
        ("fw web", None),
        ("fw-web-", None),
    ],
)
def test_create_refuses_a_bad_label(backend, label, reason):
    error = refused(create_firewall, backend, label=label)
    assert (error.status, error.field) == (400, "label")
    if reason:
        assert error.reason == reason


def test_labels_are_unique_among_firewalls(backend):
    create_firewall(backend, label="fw-web")
    error = refused(create_firewall, backend, label="fw-web")
    assert (error.field, error.reason) == ("label", "Label must be unique among your Firewalls")
    other = create_firewall(backend, label="fw-db")
    assert refused(backend.update_firewall, other["id"], {"label": "fw-web"}).field == "label"
    assert backend.update_firewall(other["id"], {"label": "fw-db"})["label"] == "fw-db"


@pytest.mark.parametrize(
    ("rules", "field", "reason"),
    [
        (None, "rules", "rules is required"),
        ({**RULES, "inbound_policy": None}, "rules.inbound_policy", "inbound_policy is required"),
        ({**RULES, "outbound_policy": "REJECT"}, "rules.outbound_policy", "Must be one of ACCEPT, DROP"),
        ({**RULES, "inbound": {"action": "ACCEPT"}}, "rules.inbound", "inbound must be a list of rules"),
        (with_inbound("tcp/22"), "rules.inbound[0]", "A rule must be an object"),
        (with_inbound(rule(action=None)), "rules.inbound[0].action", "action is required"),
        (with_inbound(rule(action="ALLOW")), "rules.inbound[0].action", "Must be one of ACCEPT, DROP"),
        (with_inbound(rule(protocol="tcp")), "rules.inbound[0].protocol", "Must be one of TCP, UDP, ICMP, IPENCAP"),
        (
            with_inbound(rule(), rule(protocol="ICMP", ports="22")),
            "rules.inbound[1].ports",
            "Ports are not allowed for the ICMP and IPENCAP protocols",
        ),
        (with_inbound(rule(protocol="IPENCAP", ports="1")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="080")), "rules.inbound[0].ports", "Port 080 has a leading zero"),
        (with_inbound(rule(ports="0")), "rules.inbound[0].ports", "Ports must be within 1 and 65535"),
        (with_inbound(rule(ports="65536")), "rules.inbound[0].ports", "Ports must be within 1 and 65535"),
        (with_inbound(rule(ports="90-80")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="80-80")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="22,,80")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="22,  80")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports=" 22")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="1-2-3")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="ssh")), "rules.inbound[0].ports", None),
        (with_inbound(rule(ports="")), "rules.inbound[0].ports", "ports must be a non-empty string"),
        (with_inbound(rule(ports=22)), "rules.inbound[0].ports", "ports must be a non-empty string"),
        (
            with_inbound(rule(ports=",".join(f"{n}-{n + 1}" for n in range(1000, 1016, 2)))),
            "rules.inbound[0].ports",
            "ports may have up to 15 pieces (a range counts as two)",
        ),
        (with_inbound(rule(addresses=None)), "rules.inbound[0].addresses", "addresses is required"),
        (with_inbound(rule(addresses=["0.0.0.0/0"])), "rules.inbound[0].addresses", "addresses must be an object"),
        (
            with_inbound(rule(addresses={})),
            "rules.inbound[0].addresses",
            "addresses must contain ipv4, ipv6, or both",
        ),
        (with_inbound(rule(addresses={"ipv4": []})), "rules.inbound[0].addresses.ipv4", None),
        (with_inbound(rule(addresses={"ipv4": ["192.0.2.1"]})), "rules.inbound[0].addresses.ipv4[0]", None),
        (
            with_inbound(rule(addresses={"ipv4": ["192.0.2.0/24", "10.0.0.0/33"]})),
            "rules.inbound[0].addresses.ipv4[1]",
            None,
        ),
        (with_inbound(rule(addresses={"ipv4": ["2001:db8::/32"]})), "rules.inbound[0].addresses.ipv4[0]", None),
        (with_inbound(rule(addresses={"ipv6": ["fe80::1%eth0/64"]})), "rules.inbound[0].addresses.ipv6[0]", None),
        (
            with_inbound(rule(addresses={"ipv4": [f"10.0.{n // 256}.{n % 256}/32" for n in range(256)]})),
            "rules.inbound[0].addresses",
            "A rule may list up to 255 addresses or networks",
        ),
        (with_inbound(rule(label="ab")), "rules.inbound[0].label", "label must be a string of 3-32 characters"),
        (
            with_inbound(rule(description="x" * 101)),
            "rules.inbound[0].description",
            "description must be a string of 1-100 characters",
        ),
        (
            {**RULES, "outbound": [rule(), {**rule(), "action": "DENY"}]},
            "rules.outbound[1].action",
            "Must be one of ACCEPT, DROP",
        ),
        (
            with_inbound(*[rule()] * 26),
            "rules",
            "A Firewall may have up to 25 rules across its inbound and outbound rulesets",
        ),
    ],
)
def test_create_refuses_bad_rules_naming_the_field(backend, rules, field, reason):
    error = refused(backend.create_firewall, label="fw-web", rules=copy.deepcopy(rules))
    assert (error.status, error.field) == (400, field), error
    if reason:
        assert error.reason == reason
    assert backend.list_firewalls() == []


@pytest.mark.parametrize("ports", ["22", "1-65535", "22,80-90", "22, 80-90, 443", ",".join(map(str, range(1, 16)))])
def test_ports_the_spec_allows(backend, ports):
    firewall = create_firewall(backend, rules=with_inbound(rule(ports=ports)))
    assert firewall["rules"]["inbound"][0]["ports"] == ports


def test_a_rule_without_ports_covers_every_port(backend):
    firewall = create_firewall(backend, rules=with_inbound(rule(ports=None)))
    assert "ports" not in firewall["rules"]["inbound"][0]


def test_update_changes_label_tags_and_status_with_their_events(backend, clock):
    firewall = create_firewall(backend)
    clock.advance(60)
    updated = backend.update_firewall(firewall["id"], {"label": "fw-web-2", "tags": ["a-tag"]})
    assert (updated["label"], updated["tags"], updated["status"]) == ("fw-web-2", ["a-tag"], "enabled")
    assert updated["updated"] > firewall["updated"]
    assert backend.update_firewall(firewall["id"], {"status": "disabled"})["status"] == "disabled"
    assert backend.update_firewall(firewall["id"], {"status": "enabled"})["status"] == "enabled"
    actions = [event["action"] for event in reversed(backend.list_events())]
    assert actions == ["firewall_create", "firewall_update", "firewall_disable", "firewall_enable"]
    error = refused(backend.update_firewall, firewall["id"], {"status": "deleted"})
    assert (error.field, error.reason) == ("status", "Must be one of enabled, disabled")


def test_rules_update_replaces_both_rulesets(backend, clock):
    firewall = create_firewall(backend)
    clock.advance(60)
    icmp = {"action": "ACCEPT", "protocol": "ICMP", "addresses": {"ipv6": ["::/0"]}}
    answer = backend.update_firewall_rules(firewall["id"], {"outbound": [icmp], "outbound_policy": "DROP"})
    # A list left out becomes empty; a policy left out stays as it was.
    expected = {"inbound": [], "inbound_policy": "DROP", "outbound": [icmp], "outbound_policy": "DROP"}
    assert rules_only(answer) == expected
    assert answer["version"] == 2
    assert backend.get_firewall_rules(firewall["id"]) == answer
    after = backend.get_firewall(firewall["id"])
    assert after["rules"] == answer and after["updated"] > firewall["updated"]
    (event,) = events_of(backend, "firewall_rules_update")
    assert event["entity"] == {
        "id": firewall["id"],
        "label": "fw-web",
        "type": "firewall",
        "url": f"/v4/networking/firewalls/{firewall['id']}",
    }
    assert isinstance(event["message"], str) and event["status"] == "notification"


def test_rules_update_names_fields_from_the_body(backend):
    firewall = create_firewall(backend)
    error = refused(backend.update_firewall_rules, firewall["id"], {"inbound": [rule(ports="99999")]})
    assert (error.field, error.reason) == ("inbound[0].ports", "Ports must be within 1 and 65535")
    error = refused(backend.update_firewall_rules, firewall["id"], {"inbound": [rule()] * 26})
    assert (error.field, error.status) == (None, 400)
    assert rules_only(backend.get_firewall_rules(firewall["id"])) == RULES


def test_an_unknown_firewall_is_not_found(backend):
    for call, args in [
        (backend.get_firewall, (1,)),
        (backend.update_firewall, (1, {})),
        (backend.delete_firewall, (1,)),
        (backend.get_firewall_rules, (1,)),
        (backend.update_firewall_rules, (1, RULES)),
        (backend.list_firewall_devices, (1,)),
        (backend.create_firewall_device, (1, 1, "linode")),
        (backend.get_firewall_device, (1, 1)),
        (backend.delete_firewall_device, (1, 1)),
        (backend.list_instance_firewalls, (1,)),
        (backend.list_nodebalancer_firewalls, (1,)),
    ]:
        assert refused(call, *args).status == 404, call.__name__


# ---------------------------------------------------------------- devices


def test_devices_of_a_linode_and_a_nodebalancer(backend):
    firewall = create_firewall(backend)
    linode = create_linode(backend)
    nodebalancer = create_nodebalancer(backend)
    device = backend.create_firewall_device(firewall["id"], linode["id"], "linode")
    assert device["entity"] == {
        "id": linode["id"],
        "label": "web-1",
        "type": "linode",
        "url": f"/v4/linode/instances/{linode['id']}",
    }
    assert API_DATE.match(device["created"]) and set(device) == {"id", "created", "updated", "entity"}
    nb_device = backend.create_firewall_device(firewall["id"], nodebalancer["id"], "nodebalancer")
    assert nb_device["entity"]["url"] == f"/v4/nodebalancers/{nodebalancer['id']}"
    assert backend.list_firewall_devices(firewall["id"]) == [device, nb_device]
    assert backend.get_firewall_device(firewall["id"], nb_device["id"]) == nb_device
    assert backend.list_instance_firewalls(linode["id"]) == [backend.get_firewall(firewall["id"])]
    assert backend.list_nodebalancer_firewalls(nodebalancer["id"]) == [backend.get_firewall(firewall["id"])]

    backend.delete_firewall_device(firewall["id"], device["id"])
    assert backend.list_firewall_devices(firewall["id"]) == [nb_device]
    assert backend.list_instance_firewalls(linode["id"]) == []
    added = events_of(backend, "firewall_device_add")
    (removed,) = events_of(backend, "firewall_device_remove")
    assert [event["secondary_entity"]["type"] for event in added] == ["linode", "nodebalancer"]
    assert removed["entity"]["id"] == firewall["id"]
    assert removed["secondary_entity"] == device["entity"]
    assert all(isinstance(event["message"], str) for event in [*added, removed])


def test_a_device_shows_its_objects_current_label(backend):
    firewall = create_firewall(backend)
    linode = create_linode(backend)
    device = backend.create_firewall_device(firewall["id"], linode["id"], "linode")
    backend.update_instance(linode["id"], {"label": "web-renamed"})
    assert backend.get_firewall_device(firewall["id"], device["id"])["entity"]["label"] == "web-renamed"


@pytest.mark.parametrize(
    ("entity_id", "kind", "field", "reason"),
    [
        (None, "linode", "id", "id is required"),
        (40_000_001, None, "type", "type is required"),
        (40_000_001, "volume", "type", "Must be one of linode, nodebalancer"),
        (99, "linode", "id", "Linode 99 not found"),
        (99, "nodebalancer", "id", "NodeBalancer 99 not found"),
    ],
)
def test_device_create_names_the_field(backend, entity_id, kind, field, reason):
    firewall = create_firewall(backend)
    create_linode(backend)
    error = refused(backend.create_firewall_device, firewall["id"], entity_id, kind)
    assert (error.status, error.field, error.reason) == (400, field, reason)


def test_a_device_is_another_firewalls_only_through_its_own_id(backend):
    first, second = create_firewall(backend, label="fw-one"), create_firewall(backend, label="fw-two")
    linode = create_linode(backend)
    device = backend.create_firewall_device(first["id"], linode["id"], "linode")
    assert refused(backend.get_firewall_device, second["id"], device["id"]).status == 404
    assert refused(backend.delete_firewall_device, second["id"], device["id"]).status == 404


def test_an_object_has_one_enabled_firewall_at_a_time(backend):
    first = create_firewall(backend, label="fw-one")
    second = create_firewall(backend, label="fw-two")
    linode = create_linode(backend)
    backend.create_firewall_device(first["id"], linode["id"], "linode")
    error = refused(backend.create_firewall_device, first["id"], linode["id"], "linode")
    assert (error.field, error.reason) == ("id", f"Linode {linode['id']} is already a device of this Firewall")
    error = refused(backend.create_firewall_device, second["id"], linode["id"], "linode")
    assert (error.status, error.field, error.reason) == (
        400,
        "id",
        f"Linode {linode['id']} already has an enabled Firewall assigned",
    )
    # A disabled Firewall may be assigned besides, but not enabled while the other one is.
    backend.update_firewall(second["id"], {"status": "disabled"})
    backend.create_firewall_device(second["id"], linode["id"], "linode")
    assert [fw["label"] for fw in backend.list_instance_firewalls(linode["id"])] == ["fw-one", "fw-two"]
    error = refused(backend.update_firewall, second["id"], {"status": "enabled"})
    assert (error.field, error.reason) == ("status", f"Linode {linode['id']} already has an enabled Firewall assigned")
    assert backend.get_firewall(second["id"])["status"] == "disabled"
    backend.update_firewall(first["id"], {"status": "disabled"})
    assert backend.update_firewall(second["id"], {"status": "enabled"})["status"] == "enabled"


def test_only_one_nodebalancer_per_firewall(backend):
    firewall = create_firewall(backend)
    first, second = create_nodebalancer(backend, "nb-one"), create_nodebalancer(backend, "nb-two")
    backend.create_firewall_device(firewall["id"], first["id"], "nodebalancer")
    error = refused(backend.create_firewall_device, firewall["id"], second["id"], "nodebalancer")
    assert (error.field, error.reason) == ("id", "Only one NodeBalancer can be assigned to a Firewall at a time")
    error = refused(create_nodebalancer, backend, "nb-three", firewall_id=firewall["id"])
    assert error.field == "firewall_id"
    assert [nb["label"] for nb in backend.list_nodebalancers()] == ["nb-one", "nb-two"]


def test_create_with_devices(backend):
    linodes = [create_linode(backend, label=f"web-{n}")["id"] for n in (1, 2)]
    nodebalancer = create_nodebalancer(backend)
    firewall = create_firewall(backend, linodes=linodes, nodebalancers=[nodebalancer["id"]])
    devices = backend.list_firewall_devices(firewall["id"])
    assert [(d["entity"]["type"], d["entity"]["id"]) for d in devices] == [
        ("linode", linodes[0]),
        ("linode", linodes[1]),
        ("nodebalancer", nodebalancer["id"]),
    ]
    actions = [event["action"] for event in reversed(backend.list_events()) if event["entity"]["type"] == "firewall"]
    assert actions == ["firewall_create", "firewall_device_add", "firewall_device_add", "firewall_device_add"]


@pytest.mark.parametrize(
    ("devices", "field", "reason"),
    [
        ({"linodes": [99]}, "devices.linodes", "Linode 99 not found"),
        ({"nodebalancers": [99]}, "devices.nodebalancers", "NodeBalancer 99 not found"),
        ({"linodes": ["web", "web"]}, "devices.linodes", "Each Linode can be listed only once"),
        ({"linodes": ["web"]}, "devices.linodes", "Linode {web} already has an enabled Firewall assigned"),
        ({"nodebalancers": ["nb", "nb2"]}, "devices.nodebalancers", None),
        ({"linode_interfaces": [7]}, "devices.linode_interfaces", "Linode interfaces are not emulated"),
    ],
)
def test_create_with_devices_refuses_what_cannot_be_assigned(backend, devices, field, reason):
    web = create_linode(backend)["id"]
    ids = {"web": web, "nb": create_nodebalancer(backend)["id"], "nb2": create_nodebalancer(backend, "nb-2")["id"]}
    create_firewall(backend, label="fw-first", linodes=[web])
    devices = {key: [ids.get(value, value) for value in values] for key, values in devices.items()}
    error = refused(create_firewall, backend, **devices)
    assert (error.status, error.field) == (400, field)
    if reason:
        assert error.reason == reason.format(web=web)
    assert [fw["label"] for fw in backend.list_firewalls()] == ["fw-first"]


# ---------------------------------------------------------------- firewall_id at create


def test_a_linode_created_with_firewall_id_is_a_device_from_the_start(backend):
    firewall = create_firewall(backend)
    linode = create_linode(backend, firewall_id=firewall["id"])
    assert backend.list_instance_firewalls(linode["id"]) == [backend.get_firewall(firewall["id"])]
    (device,) = backend.list_firewall_devices(firewall["id"])
    assert device["entity"]["id"] == linode["id"]
    (added,) = events_of(backend, "firewall_device_add")
    assert (added["entity"]["type"], added["secondary_entity"]["id"]) == ("firewall", linode["id"])
    # The assignment is recorded right after the create.
    assert [e["action"] for e in reversed(backend.list_events())][-2:] == ["linode_create", "firewall_device_add"]


def test_an_unknown_firewall_id_is_refused_before_anything_is_made(backend):
    error = refused(create_linode, backend, firewall_id=12345)
    assert (error.status, error.field, error.reason) == (400, "firewall_id", "Not found")
    assert backend.list_instances() == []
    error = refused(create_nodebalancer, backend, firewall_id=12345)
    assert (error.status, error.field) == (400, "firewall_id")
    assert backend.list_nodebalancers() == []


def test_a_nodebalancer_created_with_firewall_id(backend):
    firewall = create_firewall(backend)
    nodebalancer = create_nodebalancer(backend, firewall_id=firewall["id"])
    assert backend.list_nodebalancer_firewalls(nodebalancer["id"]) == [backend.get_firewall(firewall["id"])]


# ---------------------------------------------------------------- cascades


def test_deleting_a_linode_or_nodebalancer_removes_its_devices(backend):
    firewall = create_firewall(backend)
    linode = create_linode(backend, firewall_id=firewall["id"])
    nodebalancer = create_nodebalancer(backend, firewall_id=firewall["id"])
    backend.delete_instance(linode["id"])
    assert [d["entity"]["type"] for d in backend.list_firewall_devices(firewall["id"])] == ["nodebalancer"]
    assert backend.list_instance_firewalls(linode["id"]) == []  # the Linode is still deleting
    assert refused(backend.create_firewall_device, firewall["id"], linode["id"], "linode").field == "id"
    backend.delete_nodebalancer(nodebalancer["id"])
    assert backend.list_firewall_devices(firewall["id"]) == []
    removed = events_of(backend, "firewall_device_remove")
    assert [(e["secondary_entity"]["type"], e["secondary_entity"]["label"]) for e in removed] == [
        ("linode", "web-1"),
        ("nodebalancer", "nb-web"),
    ]


def test_deleting_a_firewall_removes_its_devices(backend):
    firewall = create_firewall(backend)
    linode = create_linode(backend, firewall_id=firewall["id"])
    other = create_firewall(backend, label="fw-next")
    backend.delete_firewall(firewall["id"])
    assert refused(backend.get_firewall, firewall["id"]).status == 404
    assert backend.list_instance_firewalls(linode["id"]) == []
    assert backend._firewall_devices == {}
    (deleted,) = events_of(backend, "firewall_delete")
    assert (deleted["entity"]["id"], deleted["entity"]["label"]) == (firewall["id"], "fw-web")
    # The Linode is free again for an enabled Firewall.
    backend.create_firewall_device(other["id"], linode["id"], "linode")


def test_deleting_a_tag_removes_it_from_firewalls(backend):
    firewall = create_firewall(backend, tags=["fleet:web", "keep-me"])
    backend.delete_tag("fleet:web")
    assert backend.get_firewall(firewall["id"])["tags"] == ["keep-me"]


def test_reset_forgets_firewalls_but_not_their_ids(backend):
    firewall = create_firewall(backend)
    backend.reset()
    assert backend.list_firewalls() == []
    assert create_firewall(backend)["id"] == firewall["id"] + 1


# ---------------------------------------------------------------- persistence


def test_firewalls_and_devices_survive_a_reload_of_the_store(tmp_path, clock):
    store_dir = tmp_path / "state"
    first = Backend(StateStore(store_dir), clock=clock, policy=TransitionPolicy("immediate"))
    firewall = create_firewall(first, tags=["fleet:web"])
    linode = create_linode(first, firewall_id=firewall["id"])
    disabled = create_firewall(first, label="fw-off")
    first.update_firewall(disabled["id"], {"status": "disabled"})
    first.create_firewall_device(disabled["id"], linode["id"], "linode")
    before = (
        first.list_firewalls(),
        first.list_firewall_devices(firewall["id"]),
        first.list_firewall_devices(disabled["id"]),
        first.list_instance_firewalls(linode["id"]),
        first.list_events(),
    )
    saved = json.loads((store_dir / "state.json").read_text())
    assert [item["id"] for item in saved["firewalls"]] == [firewall["id"], disabled["id"]]
    assert len(saved["firewall_devices"]) == 2

    second = Backend(StateStore(store_dir), clock=clock, policy=TransitionPolicy("immediate"))
    after = (
        second.list_firewalls(),
        second.list_firewall_devices(firewall["id"]),
        second.list_firewall_devices(disabled["id"]),
        second.list_instance_firewalls(linode["id"]),
        second.list_events(),
    )
    assert after == before
    # Rules and uniqueness hold after the reload; ids carry on.
    assert refused(create_firewall, second, label="fw-web").field == "label"
    assert create_firewall(second, label="fw-new")["id"] == disabled["id"] + 1
    error = refused(second.update_firewall, disabled["id"], {"status": "enabled"})
    assert error.field == "status"


def test_a_state_saved_before_firewalls_existed_loads(tmp_path, clock):
    store_dir = tmp_path / "state"
    first = Backend(StateStore(store_dir), clock=clock)
    create_linode(first)
    saved = json.loads((store_dir / "state.json").read_text())
    for key in ("firewalls", "firewall_devices"):
        del saved[key]
    for key in ("firewall", "firewall_device"):
        del saved["counters"][key]
    StateStore(store_dir).save(saved)
    second = Backend(StateStore(store_dir), clock=clock)
    assert second.list_firewalls() == []
    assert create_firewall(second)["id"] == 10_000_001
