"""Fault rules (pure): parsing, matching, counting."""

from __future__ import annotations

import pytest

from linode_emu.faults import FaultInjector


def test_rules_match_method_and_whole_path_and_run_out():
    faults = FaultInjector()
    faults.add({"method": "post", "path": "/linode/instances", "status": 502, "count": 2})
    assert faults.take("GET", "/linode/instances") is None
    assert faults.take("POST", "/linode/instances/1/boot") is None
    assert faults.take("POST", "/linode/instances").status == 502
    assert faults.to_json()[0]["count"] == 1
    assert faults.take("POST", "/linode/instances").status == 502
    assert faults.take("POST", "/linode/instances") is None
    assert faults.to_json() == []


def test_regex_paths_and_any_method():
    faults = FaultInjector()
    fault = faults.add({"path": r"/linode/instances/\d+/(boot|reboot)", "status": "timeout", "delay": 0.5})
    assert (fault.id, fault.when, fault.delay) == (1, "before", 0.5)
    assert faults.take("POST", "/linode/instances/7/reboot") is fault
    faults.add({"path": ".*", "status": 500, "count": 3})
    faults.clear()
    assert faults.take("GET", "/regions") is None


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "/x", "status": 200},
        {"path": "/x", "status": "slow"},
        {"path": "(", "status": 500},
        {"status": 500},
        {"path": "/x", "status": 500, "count": 0},
        {"path": "/x", "status": 500, "when": "during"},
        {"path": "/x", "status": 500, "delay": -1},
        {"path": "/x", "status": 500, "colour": "red"},
    ],
)
def test_bad_rules_are_refused(spec):
    with pytest.raises(ValueError):
        FaultInjector().add(spec)
