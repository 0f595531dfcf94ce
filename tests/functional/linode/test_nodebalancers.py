"""Contract tests of the adapter's NodeBalancers and NodeBalancer configs, over real HTTP against the emulator.

Each test gets a fresh emulator (``tests/support/emulator.py``); retries sleep through an injected ``sleep``.
"""

import random

import pytest

from salt_immutable import errors
from salt_immutable.linode import LinodeProvider
from salt_immutable.model import NodeBalancerConfigRef, NodeBalancerRef
from tests.support.emulator import EMULATOR_TOKEN

TAGS = ("immutable", "fleet:web")


@pytest.fixture
def provider(emulator):
    return LinodeProvider(
        EMULATOR_TOKEN,
        emulator.api_url,
        timeout=5.0,
        max_attempts=4,
        backoff=0.01,
        max_backoff=0.05,
        poll_interval=0.01,
        sleep=lambda seconds: None,
        rng=random.Random(0),
    )


@pytest.fixture
def control(emulator_control):
    return emulator_control


def test_create_nodebalancer_twice_makes_one(provider, control):
    first = provider.create_nodebalancer("web-lb", "us-east", tags=TAGS)
    again = provider.create_nodebalancer("web-lb", "us-east", tags=TAGS)

    assert isinstance(first, NodeBalancerRef)
    assert again == first
    assert (first.label, first.region, first.tags) == ("web-lb", "us-east", TAGS)
    assert first.ipv4 and first.hostname
    assert control.stats()["POST /nodebalancers"] == 1


def test_find_and_get_nodebalancer(provider):
    made = provider.create_nodebalancer("web-lb", "us-east", tags=TAGS)
    provider.create_nodebalancer("api-lb", "us-east")

    assert provider.find_nodebalancer("web-lb") == made
    assert provider.find_nodebalancer("db-lb") is None
    assert provider.get_nodebalancer(made.id) == made
    with pytest.raises(errors.NotFound, match="get nodebalancer 12345 failed"):
        provider.get_nodebalancer(12345)


def test_find_nodebalancer_is_one_filtered_request(provider, control):
    provider.create_nodebalancer("web-lb", "us-east")
    control.clear_requests()

    provider.find_nodebalancer("web-lb")

    assert control.stats() == {"total": 1, "GET /nodebalancers": 1}


def test_a_lost_answer_to_a_nodebalancer_create_leaves_one(provider, control):
    control.add_fault(r"/nodebalancers", 502, method="POST", when="after")

    made = provider.create_nodebalancer("web-lb", "us-east", tags=TAGS)

    assert made.label == "web-lb"
    assert control.stats()["POST /nodebalancers"] == 1
    assert provider.find_nodebalancer("web-lb").id == made.id


def test_a_bad_region_is_refused_naming_the_field(provider):
    with pytest.raises(errors.InvalidRequest, match=r"create nodebalancer web-lb failed \(HTTP 400\): region: "):
        provider.create_nodebalancer("web-lb", "mars-north")


def test_create_config_once_per_port_with_the_given_check(provider, control):
    nodebalancer = provider.create_nodebalancer("web-lb", "us-east")

    config = provider.create_nodebalancer_config(
        nodebalancer.id, 80, check_path="/healthz", check_interval=10, check_timeout=4, check_attempts=3
    )
    again = provider.create_nodebalancer_config(nodebalancer.id, 80, check_path="/other")
    tcp = provider.create_nodebalancer_config(nodebalancer.id, 5432, protocol="tcp", check="connection")

    assert isinstance(config, NodeBalancerConfigRef)
    assert config == NodeBalancerConfigRef(
        id=config.id,
        nodebalancer_id=nodebalancer.id,
        port=80,
        protocol="http",
        check="http",
        check_path="/healthz",
        check_interval=10,
        check_timeout=4,
        check_attempts=3,
    )
    assert again == config
    assert (tcp.port, tcp.protocol, tcp.check) == (5432, "tcp", "connection")
    assert sorted(provider.list_nodebalancer_configs(nodebalancer.id), key=lambda c: c.port) == [config, tcp]
    assert control.stats()["POST /nodebalancers/{id}/configs"] == 2


def test_create_config_defaults_to_an_http_check_of_slash(provider):
    nodebalancer = provider.create_nodebalancer("web-lb", "us-east")

    config = provider.create_nodebalancer_config(nodebalancer.id, 8080)

    assert (config.protocol, config.check, config.check_path) == ("http", "http", "/")
    assert (config.check_interval, config.check_timeout, config.check_attempts) == (5, 3, 2)


def test_a_lost_answer_to_a_config_create_leaves_one_config(provider, control):
    nodebalancer = provider.create_nodebalancer("web-lb", "us-east")
    control.add_fault(r"/nodebalancers/\d+/configs", 504, method="POST", when="after")

    config = provider.create_nodebalancer_config(nodebalancer.id, 80)

    assert [c.id for c in provider.list_nodebalancer_configs(nodebalancer.id)] == [config.id]
    assert control.stats()["POST /nodebalancers/{id}/configs"] == 1


def test_configs_of_a_missing_nodebalancer_are_not_found(provider):
    with pytest.raises(errors.NotFound, match="list nodebalancer configs 12345 failed"):
        provider.list_nodebalancer_configs(12345)


def test_a_bad_check_is_refused_naming_the_field(provider):
    nodebalancer = provider.create_nodebalancer("web-lb", "us-east")

    with pytest.raises(errors.InvalidRequest, match=rf"config {nodebalancer.id}:80 failed .*check_interval: "):
        provider.create_nodebalancer_config(nodebalancer.id, 80, check_interval=1)
