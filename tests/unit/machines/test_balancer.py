"""NodeBalancer data plane: which node gets a connection, and the health checks' settings (probes of a served backend:
tests/functional/machines/test_balancer.py)."""

import pytest

from linode_emu.balancer import (
    MIN_CHECK_INTERVAL,
    NodeView,
    check_settings,
    eligible,
)


def node(node_id, mode="accept", status="UP", address="127.0.0.1:1"):
    return NodeView(id=node_id, address=address, mode=mode, status=status)


@pytest.mark.parametrize(
    ("nodes", "check", "expected"),
    [
        ([node(1), node(2)], "http", [1, 2]),
        ([node(1, status="DOWN"), node(2)], "http", [2]),
        ([node(1, mode="drain"), node(2, mode="reject"), node(3)], "http", [3]),
        ([node(1, mode="backup"), node(2)], "http", [2]),
        ([node(1, mode="backup"), node(2, status="DOWN")], "http", [1]),
        ([node(1, status="unknown")], "http", []),
        ([node(1, status="unknown")], "none", [1]),
    ],
)
def test_eligible_nodes(nodes, check, expected):
    assert [n.id for n in eligible(nodes, check)] == expected


def test_the_check_interval_follows_the_time_scale_down_to_the_servers_tick():
    config = {"protocol": "http", "check": "http", "check_interval": 5, "check_timeout": 3, "check_attempts": 2,
              "check_path": "/healthz"}
    assert check_settings(config).interval == 5
    assert check_settings(config, time_scale=0.5).interval == 2.5
    assert check_settings(config, time_scale=0.01).interval == MIN_CHECK_INTERVAL == 0.25
