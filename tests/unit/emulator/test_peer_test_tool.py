"""``tools/peer_test.py`` (``make peer-test``) without running it: its list of deselected tests, its
reading of pytest's report and its run-time fixes of their harness."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[3] / "tools" / "peer_test.py"


@pytest.fixture(scope="module")
def peer_test():
    spec = importlib.util.spec_from_file_location("peer_test", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_deselected_test_is_of_a_selected_module_and_says_why(peer_test):
    lines = [line for line in peer_test.DESELECT_FILE.read_text().splitlines() if "::" in line]
    node_ids = peer_test.read_deselected(peer_test.DESELECT_FILE)
    assert len(node_ids) == len(lines) == len(set(node_ids))
    assert all("  # " in line and line.split("  # ", 1)[1].strip() for line in lines)
    assert {node_id.split("::")[0] for node_id in node_ids} <= set(peer_test.SELECTED)


def test_outcomes_are_counted_from_the_junit_report(peer_test, tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="10" failures="1" errors="2" skipped="3"/></testsuites>'
    )
    assert peer_test.count_outcomes(report) == {"tests": 10, "passed": 4, "failed": 1, "errors": 2, "skipped": 3}


def test_a_fix_whose_text_is_gone_stops_the_run(peer_test, tmp_path):
    target = tmp_path / "test_x.py"
    target.write_text("firewall=e2e_test_firewall.id\n")
    peer_test._replace(target, "e2e_test_firewall.id", 'getattr(e2e_test_firewall, "id", None)')
    assert target.read_text() == 'firewall=getattr(e2e_test_firewall, "id", None)\n'
    with pytest.raises(SystemExit, match="is gone"):
        peer_test._replace(target, "e2e_test_firewall.id", "x")
