"""Fleet Cloud Firewalls (``linode:firewall``): the spec, the managed rules, finding and keeping a firewall to
spec, the device check, and builders, candidates and servers created behind it (fakes, no daemons)."""

import pytest

from salt_immutable import bake, firewall, roll, spec
from salt_immutable.errors import CheckFailed, GateFailed, NotFound, RollError, SpecError
from salt_immutable.model import FirewallRef
from tests.unit import test_bake, test_roll

MASTER = "10.0.0.5"


def parse(linode=None, fleet_linode=None, **fleet):
    web = {"version": "2", "count": 2, "bake": {"states": ["webapp"]},
           "tests": {"http": {"port": 8080, "path": "/healthz"}}, **fleet}
    if fleet_linode is not None:
        web["linode"] = fleet_linode
    return spec.parse({"immutable": {"linode": {"region": "us-east", **(linode or {})}, "fleets": {"web": web}}})


def firewall_of(**linode):
    return parse(linode).fleet("web").linode.firewall


def problems(**linode):
    with pytest.raises(SpecError) as failed:
        parse(linode)
    return dict(failed.value.problems)


MANAGED = {"label": "web-fw", "rules": {"inbound": [
    {"protocol": "TCP", "ports": "22", "addresses": {"ipv4": ["203.0.113.0/24"]}, "label": "ssh-office"}]}}
WITH_NODEBALANCER = {"nodebalancer": {"label": "web-lb", "port": 80}}


# --- the spec ----------------------------------------------------------------------------------------


def test_an_id_or_a_label_alone_adopts_an_existing_firewall():
    assert firewall_of(firewall=1234) == spec.FirewallSpec(id=1234)
    assert firewall_of(firewall="prod-fw") == spec.FirewallSpec(label="prod-fw")
    assert not firewall_of(firewall="prod-fw").managed


def test_a_label_with_rules_is_managed_and_rules_default_to_nothing_but_the_app_port():
    managed = firewall_of(firewall={"label": "web-fw", "rules": {}})
    assert managed.managed and managed.rules == spec.FirewallRules((), (), "ACCEPT")


def test_a_fleet_inherits_the_default_firewall_or_overrides_it():
    parsed = parse({"firewall": "prod-fw"}, fleet_linode={"firewall": 77})
    assert parsed.fleet("web").linode.firewall == spec.FirewallSpec(id=77)
    assert parse({"firewall": "prod-fw"}).fleet("web").linode.firewall.label == "prod-fw"
    assert parse().fleet("web").linode.firewall is None


@pytest.mark.parametrize("value, path, message", [
    ([1], "", "expected the id or label of an existing Cloud Firewall, or {label, rules} for a managed one, "
              "got list [1]"),
    ("a--b", ":label", "no two '.', '-' or '_' in a row, got string 'a--b'"),
    ({"id": 3, "label": "web-fw"}, "", "give exactly one of id or label"),
    ({"id": 3, "rules": {}}, "", "a managed firewall (with rules) is named by label alone"),
    (0, ":id", "expected an integer >= 1, got 0"),
    ({"label": "web-fw", "rules": {"inbound": [{"protocol": "ICMP", "ports": "22",
                                                 "addresses": {"ipv4": ["0.0.0.0/0"]}}]}},
     ":rules:inbound:0:ports", "ICMP has no ports"),
    ({"label": "web-fw", "rules": {"inbound": [{"protocol": "TCP", "addresses": {"ipv4": ["10.0.0.300/8"]}}]}},
     ":rules:inbound:0:addresses:ipv4", "expected IPv4 networks such as 203.0.113.0/24, got string '10.0.0.300/8'"),
    ({"label": "web-fw", "rules": {"inbound": [{"protocol": "TCP", "addresses": {"ipv6": ["10.0.0.0/8"]}}]}},
     ":rules:inbound:0:addresses:ipv6", "expected IPv6 networks"),
    ({"label": "web-fw", "rules": {"inbound": [{"protocol": "TCP", "addresses": {}}]}},
     ":rules:inbound:0:addresses", "give at least one network in ipv4 or ipv6"),
    ({"label": "web-fw", "rules": {"outbound": [{"protocol": "TCP", "ports": "80-70000",
                                                  "addresses": {"ipv4": ["0.0.0.0/0"]}}]}},
     ":rules:outbound:0:ports", 'expected ports such as "22"'),
    ({"label": "web-fw", "rules": {"outbound_policy": "REJECT"}}, ":rules:outbound_policy",
     "expected one of ACCEPT, DROP, got string 'REJECT'"),
    ({"label": "web-fw", "rules": {"inbound": [{"protocol": "SCTP", "addresses": {"ipv4": ["0.0.0.0/0"]}}]}},
     ":rules:inbound:0:protocol", "expected one of TCP, UDP, ICMP, IPENCAP"),
    ({"label": "web-fw", "rule": {}}, ":rule", "unknown key (did you mean 'rules'?)"),
])
def test_a_wrong_firewall_is_reported_by_its_pillar_path(value, path, message):
    found = problems(firewall=value)
    where = f"immutable:linode:firewall{path}"
    assert where in found, found
    assert message in found[where]


# --- the managed rules -------------------------------------------------------------------------------


def test_managed_rules_accept_the_app_port_from_the_nodebalancers_and_the_master_then_the_specs():
    fleet = parse({"firewall": MANAGED}, **WITH_NODEBALANCER).fleet("web")
    rules = firewall.managed_rules(fleet, MASTER)
    assert rules["inbound_policy"] == "DROP" and rules["outbound_policy"] == "ACCEPT" and rules["outbound"] == []
    assert rules["inbound"] == [
        {"action": "ACCEPT", "protocol": "TCP", "ports": "8080", "addresses": {"ipv4": ["192.168.255.0/24"]},
         "label": "immutable-nodebalancer"},
        {"action": "ACCEPT", "protocol": "TCP", "ports": "8080", "addresses": {"ipv4": ["10.0.0.5/32"]},
         "label": "immutable-http-gate"},
        {"action": "ACCEPT", "protocol": "TCP", "addresses": {"ipv4": ["203.0.113.0/24"]}, "ports": "22",
         "label": "ssh-office"},
    ]


def test_without_a_nodebalancer_or_a_master_address_only_what_is_reached_is_opened():
    fleet = parse({"firewall": MANAGED}).fleet("web")
    labels = [rule["label"] for rule in firewall.managed_rules(fleet, "salt.example.com")["inbound"]]
    assert labels == ["ssh-office"]


def test_rules_read_back_from_the_api_match_what_was_written_and_a_changed_port_does_not():
    fleet = parse({"firewall": MANAGED}, **WITH_NODEBALANCER).fleet("web")
    wanted = firewall.managed_rules(fleet, MASTER)
    answered = {**wanted, "version": 3, "fingerprint": "abc",
                "inbound": [{**rule, "description": None, "addresses": {**rule["addresses"], "ipv6": []}}
                            for rule in wanted["inbound"]]}
    assert firewall.same_rules(answered, wanted)
    changed = {**answered, "inbound": [{**answered["inbound"][0], "ports": "8081"}, *answered["inbound"][1:]]}
    assert not firewall.same_rules(changed, wanted)
    assert not firewall.same_rules({**answered, "inbound_policy": "ACCEPT"}, wanted)


# --- finding and keeping the firewall ------------------------------------------------------------------


class FakeFirewalls:
    """Cloud Firewalls by id; every mutating call logged."""

    def __init__(self, *existing, rules=None, devices=()):
        self.firewalls = {f.id: f for f in existing}
        self.rules = dict(rules or {})
        self.devices = set(devices)
        self.log = []

    def find_firewall(self, label):
        return next((f for f in self.firewalls.values() if f.label == label), None)

    def get_firewall(self, firewall_id):
        if firewall_id not in self.firewalls:
            raise NotFound("get firewall", firewall_id, ["Not found"])
        return self.firewalls[firewall_id]

    def create_firewall(self, label, rules, *, tags=()):
        created = FirewallRef(len(self.firewalls) + 50, label, "enabled", tuple(tags))
        self.firewalls[created.id], self.rules[created.id] = created, rules
        self.log.append(("create firewall", label))
        return created

    def firewall_rules(self, firewall_id):
        return self.rules[firewall_id]

    def set_firewall_rules(self, firewall_id, rules):
        self.rules[firewall_id] = rules
        self.log.append(("set rules", firewall_id))

    def firewall_linode_ids(self, firewall_id):
        return frozenset(self.devices)

    def instance_firewalls(self, linode_id):
        return [f for f in self.firewalls.values() if linode_id in self.devices]


def test_a_missing_managed_firewall_is_planned_then_created_tagged_with_its_fleet():
    fleet = parse({"firewall": MANAGED}, **WITH_NODEBALANCER).fleet("web")
    cloud = FakeFirewalls()
    found, missing = firewall.find_firewall(cloud, fleet, MASTER)
    assert found is None and missing == ["create Cloud Firewall web-fw (inbound policy DROP, 3 inbound rules)"]
    assert cloud.log == []
    made = firewall.ensure_firewall(cloud, fleet, MASTER)
    assert cloud.log == [("create firewall", "web-fw")] and made.tags == ("immutable", "fleet:web")
    assert cloud.rules[made.id] == firewall.managed_rules(fleet, MASTER)
    assert firewall.find_firewall(cloud, fleet, MASTER) == (made, [])


def test_a_managed_firewall_whose_rules_drifted_is_put_back_to_spec_and_one_to_spec_is_left_alone():
    fleet = parse({"firewall": MANAGED}).fleet("web")
    cloud = FakeFirewalls(FirewallRef(9, "web-fw", "enabled", ()), rules={9: {"inbound": [], "outbound": [],
                                                                          "inbound_policy": "ACCEPT",
                                                                          "outbound_policy": "ACCEPT"}})
    _, missing = firewall.find_firewall(cloud, fleet, MASTER)
    assert missing == ["update the rules of Cloud Firewall web-fw (9) to the spec's"]
    firewall.ensure_firewall(cloud, fleet, MASTER)
    firewall.ensure_firewall(cloud, fleet, MASTER)
    assert cloud.log == [("set rules", 9)] and cloud.rules[9] == firewall.managed_rules(fleet, MASTER)


def test_an_adopted_firewall_is_never_changed_and_must_exist_and_be_enabled():
    adopted = parse({"firewall": "prod-fw"}).fleet("web")
    cloud = FakeFirewalls(FirewallRef(3, "prod-fw", "enabled", ()), rules={3: {"inbound": []}})
    assert firewall.ensure_firewall(cloud, adopted, MASTER).id == 3 and cloud.log == []
    with pytest.raises(RollError, match=r"web: Cloud Firewall #99 \(linode:firewall\) does not exist"):
        firewall.find_firewall(FakeFirewalls(FirewallRef(3, "prod-fw", "enabled", ())),
                               parse({"firewall": 99}).fleet("web"), MASTER)
    disabled = FakeFirewalls(FirewallRef(3, "prod-fw", "disabled", ()))
    with pytest.raises(RollError, match=r"prod-fw \(3\) is disabled: servers behind it would be unprotected"):
        firewall.ensure_firewall(disabled, adopted, MASTER)


def test_the_device_check_names_the_server_and_the_firewalls_it_has():
    behind = FirewallRef(3, "prod-fw", "enabled", ())
    server = test_roll.ObservedServer(7, "web-g2-1", "running", (), (), None, None, None, None, None)
    firewall.check_device(FakeFirewalls(behind, devices={7}), behind, server)
    with pytest.raises(CheckFailed, match=r"web-g2-1 is not a device of Cloud Firewall prod-fw \(3\); its "
                                          r"firewalls: none"):
        firewall.check_device(FakeFirewalls(behind), behind, server)
    disabled = FirewallRef(3, "prod-fw", "disabled", ())
    with pytest.raises(CheckFailed, match=r"prod-fw \(3\) of web-g2-1 is disabled, not enabled"):
        firewall.check_device(FakeFirewalls(disabled, devices={7}), behind, server)


def test_status_lists_the_servers_that_are_not_behind_the_firewall():
    fleet = parse({"firewall": "prod-fw"}).fleet("web")
    servers = [test_roll.ObservedServer(i, f"web-g1-{i}", "running", (), (), None, None, None, None, None)
               for i in (1, 2)]
    cloud = FakeFirewalls(FirewallRef(3, "prod-fw", "enabled", ()), devices={1})
    assert firewall.status(cloud, fleet, servers) == {"id": 3, "label": "prod-fw", "managed": False,
                                                      "status": "enabled", "unprotected": ["web-g1-2"]}
    gone = firewall.status(FakeFirewalls(), parse({"firewall": 5}).fleet("web"), servers)
    assert gone["status"] == "missing" and gone["unprotected"] == ["web-g1-1", "web-g1-2"]
    assert firewall.status(cloud, parse().fleet("web"), servers) is None


# --- builders, candidates and servers behind it ----------------------------------------------------------


def test_a_roll_creates_every_server_behind_the_firewall_and_checks_it_before_traffic(app_port):
    cloud, salt, job, _ = test_roll.world(app_port)
    job.firewall = cloud.firewall = FirewallRef(3, "prod-fw", "enabled", ())
    test_roll.old_fleet(cloud, salt)
    roll.Roll(job).converge()
    new = {s.id for s in cloud.servers.values()}
    assert len(new) == 3 and new <= cloud.firewall_devices
    gates = [e.get("gate") for e in job.timeline.events if e["server"] == "web-g2-1" and e["event"] == "gate"]
    assert gates[:2] == ["running", "firewall"]


def test_a_server_that_is_not_behind_the_firewall_fails_its_gate_and_never_takes_traffic(app_port):
    cloud, salt, job, _ = test_roll.world(app_port)
    job.firewall = cloud.firewall = FirewallRef(3, "prod-fw", "enabled", ())
    cloud.outside_firewall.add("web-g2-1")
    test_roll.old_fleet(cloud, salt)
    with pytest.raises(GateFailed) as failed:
        roll.Roll(job).converge()
    assert (failed.value.server, failed.value.gate) == ("web-g2-1", "firewall")
    assert ("add node", "web-g2-1") not in cloud.log and ("delete", "web-g2-1") in cloud.log
    assert sorted(s.label for s in cloud.servers.values()) == ["web-g1-1", "web-g1-2", "web-g1-3"]


class BakeCloud(test_bake.FakeProvider, FakeFirewalls):
    """The bake's fake provider with firewalls: records the firewall each Linode is created behind."""

    def __init__(self):
        test_bake.FakeProvider.__init__(self)
        FakeFirewalls.__init__(self)
        self.behind = {}

    def create_instance(self, label, region, type_, image_id, tags, user_data, firewall_id=None):
        created = super().create_instance(label, region, type_, image_id, tags, user_data)
        self.behind[label] = firewall_id
        self.devices.add(created.id)
        return created


def test_the_builder_and_the_candidate_are_created_behind_the_managed_firewall():
    fleet = parse({"firewall": MANAGED}, tests={"saltcheck": ["webapp"]}).fleet("web")
    cloud = BakeCloud()
    job = bake.BakeJob(fleet=fleet, version="2", provider=cloud, salt=test_bake.FakeSalt(), master_address=MASTER,
                       master_port=4506, progress=None)
    result = bake.Bake(job).run()
    (made,) = cloud.firewalls.values()
    assert cloud.behind == {"web-2-build": made.id, "web-2-proof": made.id}
    assert cloud.log == [("create firewall", "web-fw")] and "firewall" in result["timings"]
