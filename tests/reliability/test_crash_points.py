"""Crash points: a roll of fleet ``app`` from 1 to 2 (behind a NodeBalancer and a Cloud Firewall) killed
at each named step of its own phases (a real process ended by ``os._exit(137)``, see ``crash_driver.py``),
then run again: the rerun takes the dead roll's lock over, records the dead roll as interrupted and
converges with no duplicate Linode, no orphan key, node or device, and no leftover image or bake source."""

import subprocess
import sys

import pytest

from salt_immutable import history, lock
from tests.reliability import crash_driver
from tests.reliability.harness import FLEET, World, assert_clean, node_hosts
from tests.support.saltconfig import REPO

pytestmark = pytest.mark.slow


def killed_roll(world, emulator, step, http_port):
    """Run the roll in a child process that dies at ``step``; its stderr."""
    command = [sys.executable, "-m", "tests.reliability.crash_driver", emulator.api_url, str(world.folder), step,
               str(http_port)]
    ended = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ended.returncode == crash_driver.KILLED, ended.stderr[-3000:]
    assert f"killed at {step}" in ended.stderr
    return ended.stderr


@pytest.mark.parametrize("step", sorted(crash_driver.STEPS))
def test_a_roll_killed_at_a_step_is_finished_by_the_next_run_without_duplicates(
        step, emulator, tmp_path, app, data_plane):
    behind = {"nodebalancer": True, "http_port": app.port, "progress_deadline": crash_driver.CRASH_DEADLINE}
    assert World(emulator.api_url, tmp_path).roll("1", **behind)["outcome"] == history.SUCCEEDED

    killed_roll(World(emulator.api_url, tmp_path), emulator, step, app.port)
    assert lock.holder(tmp_path / "state", FLEET)["stale"], "the dead roll left its lock"

    rerun = World(emulator.api_url, tmp_path)
    report = rerun.roll("2", **behind)

    assert report["outcome"] == history.SUCCEEDED, report["failure"]
    assert any("taking over the stale lock" in line for line in rerun.lines), rerun.lines
    outcomes = {r.roll_id: r.outcome for r in rerun.records()}  # same-second starts: ordered by roll id
    assert outcomes.pop(report["roll_id"]) == history.SUCCEEDED
    assert sorted(outcomes.values()) == [history.INTERRUPTED, history.SUCCEEDED], "v1, then the killed roll"
    assert lock.holder(tmp_path / "state", FLEET) is None
    assert_clean(rerun, "2")
    assert node_hosts(rerun.provider) == {s.private_ip for s in rerun.provider.list_fleet(FLEET)}


def test_the_crash_points_are_at_least_ten_distinct_steps():
    assert len(crash_driver.STEPS) >= 10
