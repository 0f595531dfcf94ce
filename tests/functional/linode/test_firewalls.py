"""Contract tests of the adapter's Cloud Firewalls and of a fleet's firewall kept to spec, over real HTTP
against the emulator (a fresh one per test)."""

import pytest

from salt_immutable import errors, firewall, spec
from salt_immutable.model import FirewallRef
from tests.functional.linode.test_contract import PLACE, WEB
from tests.functional.linode.test_nodebalancers import provider  # noqa: F401  (the fixture)

TAGS = ("immutable", "fleet:web")
RULES = {"inbound_policy": "DROP", "outbound_policy": "ACCEPT", "outbound": [],
         "inbound": [{"action": "ACCEPT", "protocol": "TCP", "ports": "8080", "label": "app",
                      "addresses": {"ipv4": ["192.168.255.0/24"]}}]}
FLEET = spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {"web": {
    "version": "1", "count": 1, "bake": {"states": ["webapp"]}, "tests": {"http": {"port": 8080}},
    "nodebalancer": {"label": "web-lb", "port": 80},
    "linode": {"firewall": {"label": "web-fw", "rules": {"inbound": [
        {"protocol": "TCP", "ports": "22", "addresses": {"ipv4": ["203.0.113.0/24"]}}]}}},
}}}}).fleet("web")


def test_create_firewall_twice_makes_one_holding_the_rules(provider, emulator_control):  # noqa: F811
    made = provider.create_firewall("web-fw", RULES, tags=TAGS)
    again = provider.create_firewall("web-fw", RULES, tags=TAGS)

    assert made == again == FirewallRef(made.id, "web-fw", "enabled", TAGS)
    assert emulator_control.stats()["POST /networking/firewalls"] == 1
    assert firewall.same_rules(provider.firewall_rules(made.id), RULES)


def test_find_is_one_filtered_request_and_get_of_a_missing_one_is_not_found(provider, emulator_control):  # noqa: F811
    made = provider.create_firewall("web-fw", RULES)
    provider.create_firewall("db-fw", RULES)
    emulator_control.clear_requests()

    assert provider.find_firewall("web-fw") == made
    assert provider.find_firewall("api-fw") is None
    assert emulator_control.stats() == {"total": 2, "GET /networking/firewalls": 2}
    assert provider.get_firewall(made.id) == made
    with pytest.raises(errors.NotFound, match="get firewall 424242 failed"):
        provider.get_firewall(424242)


def test_a_lost_answer_to_a_firewall_create_leaves_one(provider, emulator_control):  # noqa: F811
    emulator_control.add_fault(r"/networking/firewalls", 502, method="POST", when="after")

    made = provider.create_firewall("web-fw", RULES, tags=TAGS)

    assert emulator_control.stats()["POST /networking/firewalls"] == 1
    assert provider.find_firewall("web-fw").id == made.id


def test_set_rules_replaces_them(provider):  # noqa: F811
    made = provider.create_firewall("web-fw", RULES)
    opened = {**RULES, "inbound_policy": "ACCEPT", "inbound": []}

    provider.set_firewall_rules(made.id, opened)

    assert firewall.same_rules(provider.firewall_rules(made.id), opened)
    assert not firewall.same_rules(provider.firewall_rules(made.id), RULES)


def test_a_linode_created_with_firewall_id_is_its_device_from_the_start(provider):  # noqa: F811
    made = provider.create_firewall("web-fw", RULES)
    behind = provider.create_instance("web-g1-1", **PLACE, tags=WEB, firewall_id=made.id)
    bare = provider.create_instance("web-g1-2", **PLACE, tags=WEB)

    assert provider.instance_firewalls(behind.id) == [made]
    assert provider.instance_firewalls(bare.id) == []
    assert provider.firewall_linode_ids(made.id) == {behind.id}


def test_a_fleets_managed_firewall_is_created_once_then_only_read(provider, emulator_control):  # noqa: F811
    made = firewall.ensure_firewall(provider, FLEET, "10.0.0.5")
    emulator_control.clear_requests()

    assert firewall.ensure_firewall(provider, FLEET, "10.0.0.5") == made
    assert set(emulator_control.stats()) == {"total", "GET /networking/firewalls",
                                             "GET /networking/firewalls/{id}/rules"}
    assert firewall.same_rules(provider.firewall_rules(made.id), firewall.managed_rules(FLEET, "10.0.0.5"))


def test_rules_changed_by_hand_are_put_back_with_one_request(provider, emulator_control):  # noqa: F811
    made = firewall.ensure_firewall(provider, FLEET, "10.0.0.5")
    provider.set_firewall_rules(made.id, {**RULES, "inbound_policy": "ACCEPT"})
    emulator_control.clear_requests()

    firewall.ensure_firewall(provider, FLEET, "10.0.0.5")

    assert emulator_control.stats()["PUT /networking/firewalls/{id}/rules"] == 1
    assert firewall.same_rules(provider.firewall_rules(made.id), firewall.managed_rules(FLEET, "10.0.0.5"))


def test_list_by_tags_and_delete_twice(provider):  # noqa: F811
    made = provider.create_firewall("web-fw", RULES, tags=TAGS)
    provider.create_firewall("prod-fw", RULES)
    behind = provider.create_instance("web-g1-1", **PLACE, tags=WEB, firewall_id=made.id)

    assert provider.list_firewalls(TAGS) == [made]
    provider.delete_firewall(made.id)
    provider.delete_firewall(made.id)

    assert provider.find_firewall("web-fw") is None and provider.instance_firewalls(behind.id) == []
    assert [f.label for f in provider.list_firewalls()] == ["prod-fw"]
