"""Cloud Firewalls over HTTP: the served emulator driven by linode_api4 5.48, unmodified, and by raw
requests for the error bodies, envelopes and filters."""

from __future__ import annotations

import copy
import datetime

import pytest
import requests
from linode_api4 import ApiError, Firewall, Instance, LinodeClient, NodeBalancer
from linode_api4.objects import FirewallCreateDevicesOptions, FirewallDevice

from tests.support.emulator import EMULATOR_TOKEN
from tests.support.emulator_helpers import ROOT_PASS

RULES = {
    "inbound_policy": "DROP",
    "inbound": [
        {
            "action": "ACCEPT",
            "protocol": "TCP",
            "ports": "22, 80",
            "addresses": {"ipv4": ["192.0.2.0/24"], "ipv6": ["2001:db8::/32"]},
            "label": "allow-web",
            "description": "SSH and HTTP",
        }
    ],
    "outbound_policy": "ACCEPT",
    "outbound": [],
}
LINODE = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": ROOT_PASS}


def rules_only(rules: dict) -> dict:
    """A rules answer without its ``version`` and ``fingerprint``."""
    return {key: value for key, value in rules.items() if key not in ("version", "fingerprint")}


def create_instance(client: LinodeClient, label="web-1", **kwargs) -> Instance:
    return client.linode.instance_create(
        "g6-nanode-1", "us-east", image="linode/debian12", root_pass=ROOT_PASS, label=label, **kwargs
    )


def api_error(call, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def actions(client: LinodeClient, firewall_id: int) -> list[str]:
    """The actions of the events whose entity is this Firewall, oldest first."""
    events = reversed(list(client.account.events()))
    return [event.action for event in events if (event.entity.type, event.entity.id) == ("firewall", firewall_id)]


@pytest.fixture
def api(emulator):
    """Raw requests with the token: ``api(method, path, body=None, headers=None)``."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {EMULATOR_TOKEN}"

    def call(method: str, path: str, body=None, headers=None) -> requests.Response:
        return session.request(method, emulator.api_url + path, json=body, headers=headers, timeout=10)

    yield call
    session.close()


def test_firewall_lifecycle_with_the_official_client(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    client = linode_client
    firewall = client.networking.firewall_create("fw-web", copy.deepcopy(RULES), tags=["fleet:web"])
    assert isinstance(firewall, Firewall)
    assert (firewall.label, firewall.status, firewall.tags) == ("fw-web", "enabled", ["fleet:web"])
    assert isinstance(firewall.created, datetime.datetime)
    assert rules_only(firewall.get_rules()) == RULES
    assert firewall.rules.inbound_policy == "DROP"

    # A Linode created under the Firewall is its device from the start.
    instance = create_instance(client, firewall=firewall)
    (assigned,) = instance.firewalls()
    assert (assigned.id, assigned.label) == (firewall.id, "fw-web")
    (device,) = firewall.devices
    assert isinstance(device, FirewallDevice)
    assert (device.entity.id, device.entity.type, device.entity.label) == (instance.id, "linode", "web-1")
    assert isinstance(device.created, datetime.datetime)

    # Rules are replaced as a whole.
    new_rules = {
        **copy.deepcopy(RULES),
        "outbound_policy": "DROP",
        "outbound": [{"action": "ACCEPT", "protocol": "UDP", "ports": "53", "addresses": {"ipv4": ["0.0.0.0/0"]}}],
    }
    firewall.update_rules(new_rules)
    assert rules_only(firewall.get_rules()) == new_rules
    assert client.load(Firewall, firewall.id).rules.outbound_policy == "DROP"

    # A NodeBalancer is added and removed as a device.
    nodebalancer = client.nodebalancers.create("us-east", label="nb-web")
    nb_device = firewall.device_create(nodebalancer.id, "nodebalancer")
    assert (nb_device.entity.type, nb_device.entity.id) == ("nodebalancer", nodebalancer.id)
    assert [fw.id for fw in nodebalancer.firewalls()] == [firewall.id]
    assert sorted(d.entity.type for d in client.load(Firewall, firewall.id).devices) == ["linode", "nodebalancer"]
    nb_device.delete()
    assert nodebalancer.firewalls() == []
    assert [d.entity.type for d in client.load(Firewall, firewall.id).devices] == ["linode"]

    # Label, tags and status through save().
    firewall.label = "fw-web-2"
    firewall.status = "disabled"
    assert firewall.save() is True
    reloaded = client.load(Firewall, firewall.id)
    assert (reloaded.label, reloaded.status) == ("fw-web-2", "disabled")
    assert [fw.id for fw in client.networking.firewalls(Firewall.label == "fw-web-2")] == [firewall.id]

    assert firewall.delete() is True
    assert instance.firewalls() == []
    assert api_error(client.load, Firewall, firewall.id).status == 404
    assert actions(client, firewall.id) == [
        "firewall_create",
        "firewall_device_add",
        "firewall_rules_update",
        "firewall_device_add",
        "firewall_device_remove",
        "firewall_update",
        "firewall_disable",
        "firewall_delete",
    ]


def test_deleting_a_linode_removes_it_from_its_firewall(linode_client, emulator_control):
    emulator_control.set_transitions(policy="immediate")
    firewall = linode_client.networking.firewall_create(
        "fw-web", copy.deepcopy(RULES), devices=FirewallCreateDevicesOptions()
    )
    instance = create_instance(linode_client, firewall=firewall.id)
    assert [d.entity.id for d in firewall.devices] == [instance.id]
    instance.delete()
    assert list(linode_client.load(Firewall, firewall.id).devices) == []
    nodebalancer = linode_client.nodebalancers.create("us-east", label="nb-web", firewall_id=firewall.id)
    assert [fw.id for fw in linode_client.load(NodeBalancer, nodebalancer.id).firewalls()] == [firewall.id]
    nodebalancer.delete()
    assert list(linode_client.load(Firewall, firewall.id).devices) == []


def test_client_errors_name_the_field(linode_client):
    client = linode_client
    bad = copy.deepcopy(RULES)
    bad["inbound"][0]["ports"] = "80-22"
    error = api_error(client.networking.firewall_create, "fw-web", bad)
    assert error.status == 400
    assert error.json["errors"][0]["field"] == "rules.inbound[0].ports"
    firewall = client.networking.firewall_create("fw-web", copy.deepcopy(RULES))
    error = api_error(client.networking.firewall_create, "fw-web", copy.deepcopy(RULES))
    assert (error.status, error.errors) == (400, ["Label must be unique among your Firewalls"])
    error = api_error(create_instance, client, firewall=987654)
    assert error.json == {"errors": [{"reason": "Not found", "field": "firewall_id"}]}
    assert list(client.linode.instances()) == []
    instance = create_instance(client, firewall=firewall)
    other = client.networking.firewall_create("fw-other", copy.deepcopy(RULES))
    error = api_error(other.device_create, instance.id, "linode")
    assert (error.status, error.json["errors"][0]["field"]) == (400, "id")
    assert error.errors == [f"Linode {instance.id} already has an enabled Firewall assigned"]


def test_raw_error_shapes(api):
    response = api("POST", "/networking/firewalls", {"label": "fw-web", "rules": {"inbound_policy": "DROP"}})
    assert (response.status_code, response.json()) == (
        400,
        {"errors": [{"reason": "outbound_policy is required", "field": "rules.outbound_policy"}]},
    )
    response = api("POST", "/networking/firewalls", {"label": "fw-web", "rules": "all"})
    assert response.json() == {"errors": [{"reason": "rules must be an object", "field": "rules"}]}
    response = api("POST", "/networking/firewalls", {"label": "fw-web", "rules": RULES, "devices": {"linodes": ["1"]}})
    assert response.json()["errors"][0]["field"] == "devices.linodes"
    firewall = api("POST", "/networking/firewalls", {"label": "fw-web", "rules": RULES}).json()
    base = f"/networking/firewalls/{firewall['id']}"
    icmp = {"action": "ACCEPT", "protocol": "ICMP", "ports": "8", "addresses": {"ipv4": ["0.0.0.0/0"]}}
    response = api("PUT", base + "/rules", {"inbound": [RULES["inbound"][0], icmp]})
    assert (response.status_code, response.json()) == (
        400,
        {
            "errors": [
                {"reason": "Ports are not allowed for the ICMP and IPENCAP protocols", "field": "inbound[1].ports"}
            ]
        },
    )
    response = api("PUT", base, {"status": "deleted"})
    assert response.json() == {"errors": [{"reason": "Must be one of enabled, disabled", "field": "status"}]}
    response = api("POST", base + "/devices", {"id": 1, "type": "volume"})
    assert response.json()["errors"][0]["field"] == "type"
    assert api("GET", base + "/devices/1").status_code == 404
    assert api("GET", "/networking/firewalls/1").json() == {"errors": [{"reason": "Not found"}]}
    assert api("DELETE", base).json() == {}
    assert api("DELETE", base).status_code == 404


def test_lists_are_paginated_and_filtered(api):
    for n in range(30):
        api("POST", "/networking/firewalls", {"label": f"fw-{n:02d}", "rules": RULES, "tags": [f"n{n % 3}-tag"]})
    page = api("GET", "/networking/firewalls?page=2&page_size=25").json()
    assert (page["page"], page["pages"], page["results"], len(page["data"])) == (2, 2, 30, 5)
    tagged = api("GET", "/networking/firewalls", headers={"X-Filter": '{"tags": "n0-tag"}'}).json()
    assert tagged["results"] == 10
    ordered = api(
        "GET", "/networking/firewalls", headers={"X-Filter": '{"+order_by": "label", "+order": "desc"}'}
    ).json()
    assert ordered["data"][0]["label"] == "fw-29"
    response = api("GET", "/networking/firewalls", headers={"X-Filter": '{"status": "enabled"}'})
    assert response.json() == {"errors": [{"reason": "Cannot filter on status", "field": "X-Filter"}]}

    firewall_id = page["data"][0]["id"]
    linode = api("POST", "/linode/instances", {**LINODE, "label": "web-1", "firewall_id": firewall_id}).json()
    devices = api("GET", f"/networking/firewalls/{firewall_id}/devices").json()
    assert (devices["results"], devices["data"][0]["entity"]["id"]) == (1, linode["id"])
    firewalls = api("GET", f"/linode/instances/{linode['id']}/firewalls").json()
    assert (firewalls["page"], firewalls["pages"], firewalls["results"]) == (1, 1, 1)
    assert firewalls["data"][0]["id"] == firewall_id
    assert api("GET", "/linode/instances/1/firewalls").status_code == 404
    assert api("GET", "/nodebalancers/1/firewalls").status_code == 404
    events = api("GET", "/account/events", headers={"X-Filter": '{"entity.type": "firewall"}'}).json()
    assert events["results"] == 31 and {event["action"] for event in events["data"]} == {
        "firewall_create",
        "firewall_device_add",
    }


def test_firewalls_survive_a_restart(emulator_factory, tmp_path):
    state_dir = tmp_path / "restarting"
    first = emulator_factory(state_dir=state_dir)
    client = LinodeClient(EMULATOR_TOKEN, base_url=first.api_url)
    firewall = client.networking.firewall_create("fw-web", copy.deepcopy(RULES))
    instance = create_instance(client, firewall=firewall)
    first.stop()
    second = emulator_factory(state_dir=state_dir)
    client = LinodeClient(EMULATOR_TOKEN, base_url=second.api_url)
    assert rules_only(client.load(Firewall, firewall.id).get_rules()) == RULES
    assert [fw.id for fw in client.load(Instance, instance.id).firewalls()] == [firewall.id]
