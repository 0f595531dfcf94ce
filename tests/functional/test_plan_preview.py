"""``immutable.plan`` / ``roll test=True`` against the emulator over HTTP: the batches, the peak, the surge's
cost, a constant number of API requests whatever the fleet's size, and no write at all."""

import pytest
import requests

from salt_immutable import fleetops, roll, spec
from salt_immutable.linode import LinodeProvider
from tests.support.emulator import EMULATOR_TOKEN, wait_until

PLACE = {"region": "us-east", "type": "g6-standard-1", "image": "linode/debian12", "root_pass": "x" * 20}


def fleet(name, count, **extra):
    return spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {name: {
        "version": "2", "count": count, "bake": {"states": ["webapp"]},
        "tests": {"http": {"port": 8080, "path": "/healthz"}},
        "nodebalancer": {"label": f"{name}-lb", "port": 80, "drain_seconds": 3}, **extra,
    }}}}).fleet(name)


@pytest.fixture
def ctx(emulator):
    provider = LinodeProvider(EMULATOR_TOKEN, emulator.api_url, poll_interval=0.01)
    return fleetops.Context(provider=provider, salt=None, master_address="127.0.0.1", master_port=4506,
                            folder="unused", bake=None)


def servers(emulator, name, count):
    """``count`` running servers of fleet ``name`` at version 1, in service."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {EMULATOR_TOKEN}"
        for index in range(1, count + 1):
            tags = ["immutable", f"fleet:{name}", "version:1", "gen:1", "svc:in"]
            body = {**PLACE, "label": f"{name}-g1-{index}", "tags": tags}
            session.post(f"{emulator.api_url}/linode/instances", json=body, timeout=10).raise_for_status()
    provider = LinodeProvider(EMULATOR_TOKEN, emulator.api_url)
    wait_until(lambda: all(s.status == "running" for s in provider.list_fleet(name)), timeout=30, interval=0.1)


def test_the_plan_lists_each_batch_with_its_operations_and_the_surge_cost(ctx, emulator, emulator_control):
    servers(emulator, "web", 3)
    ctx.provider.create_nodebalancer("web-lb", "us-east")
    emulator_control.clear_requests()
    preview = fleetops.preview(ctx, fleet("web", 3), "2")
    assert preview["operations"] == [
        "bake web-2: builder, configure, test, seal, capture, prove",
        "create a config on port 80 of NodeBalancer web-lb",
    ]
    steps = [(a["action"], a["server"]) for batch in preview["batches"] for a in batch["actions"]]
    assert steps == [("create", "web-g2-1"), ("drain", "web-g1-1"), ("create", "web-g2-2"),
                     ("drain", "web-g1-2"), ("create", "web-g2-3"), ("drain", "web-g1-3")]
    assert preview["batches"][1]["actions"][0]["operations"] == [
        "tag web-g1-1 svc:drain", "set node web-g1-1 to drain", "wait 3 s", "remove node web-g1-1",
        "delete Linode web-g1-1", "delete minion key web-g1-1"]
    price = ctx.provider.type_hourly_price("g6-standard-1")
    assert preview["peak_servers"] == 4 and preview["surge_servers"] == 1
    assert preview["surge_hourly_cost"] == pytest.approx(price)
    assert preview["from"] == {"1": 3} and preview["changes"] is True
    assert [r for r in emulator_control.requests() if r["method"] != "GET"] == []


def test_blue_green_doubles_the_fleet_for_one_batch(ctx, emulator):
    servers(emulator, "web", 3)
    preview = fleetops.preview(ctx, fleet("web", 3, rollout={"max_surge": "100%"}), "2")
    assert [batch["size"] for batch in preview["batches"]] == [3, 3]
    assert preview["peak_servers"] == 6 and preview["surge_servers"] == 3


def test_observing_a_fleet_costs_the_same_requests_whatever_its_size(ctx, emulator, emulator_control):
    servers(emulator, "small", 3)
    servers(emulator, "big", 60)
    counts = {}
    for name, count in (("small", 3), ("big", 60)):
        emulator_control.clear_requests()
        fleetops.preview(ctx, fleet(name, count), "2")
        counts[name] = emulator_control.stats()["total"]
    assert counts["small"] == counts["big"] <= 5


def test_a_managed_nodebalancer_missing_its_config_gets_the_config_not_a_second_nodebalancer(ctx, emulator_control):
    ctx.provider.create_nodebalancer("web-lb", "us-east")  # a roll stopped between the two creates
    balancer = roll.ensure_balancer(ctx.provider, fleet("web", 3))
    assert balancer.config.port == 80 and balancer.config.check_path == "/healthz"
    assert ctx.provider.find_nodebalancer("web-lb").label == "web-lb"
    assert emulator_control.stats()["POST /nodebalancers"] == 1
    assert roll.ensure_balancer(ctx.provider, fleet("web", 3)) == balancer


def test_the_plan_creates_the_managed_firewall_first_and_every_server_behind_it(ctx, emulator, emulator_control):
    servers(emulator, "web", 1)
    emulator_control.clear_requests()
    managed = fleet("web", 1, linode={"firewall": {"label": "web-fw", "rules": {}}})
    preview = fleetops.preview(ctx, managed, "2")
    assert preview["operations"][0] == "create Cloud Firewall web-fw (inbound policy DROP, 2 inbound rules)"
    create = preview["batches"][0]["actions"][0]["operations"]
    assert create[1] == "create Linode web-g2-1 from web-2 (g6-standard-1, us-east) behind Cloud Firewall web-fw"
    assert create[2].startswith("gates: running, firewall device, minion")
    assert [r for r in emulator_control.requests() if r["method"] != "GET"] == []


def test_a_plan_naming_a_firewall_that_does_not_exist_says_so(ctx):
    with pytest.raises(roll.RollError, match=r"web: Cloud Firewall prod-fw \(linode:firewall\) does not exist"):
        fleetops.preview(ctx, fleet("web", 1, linode={"firewall": "prod-fw"}), "2")
