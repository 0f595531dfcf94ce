"""Faults, each on its own roll: fleet ``app`` at version 1 rolled to 2 (auto rollback on) while the
emulator misbehaves. Every roll ends converged on 2 or rolled back to 1, never has fewer than
``count - max_unavailable`` servers in service at any observation, and leaves no Linode, volume, key,
node or firewall device behind (:func:`~tests.reliability.harness.assert_clean`)."""

import time

from salt_immutable import history
from tests.reliability.harness import (
    DataPlane,
    ServiceSampler,
    World,
    assert_clean,
    assert_never_below_minimum,
    node_hosts,
    provider_for,
)


def watched_roll(world, emulator, version, **options):
    """Roll ``app`` to ``version`` while a :class:`ServiceSampler` watches; the report."""
    with ServiceSampler(emulator.api_url) as sampler:
        report = world.roll(version, **options)
    assert_never_below_minimum(sampler)
    return report


def at_version_1(world, **options):
    """Fleet ``app`` converged on version 1 first."""
    assert world.roll("1", **options)["outcome"] == history.SUCCEEDED
    return world


def answered(control, status):
    """How many API requests got ``status``."""
    return sum(1 for entry in control.requests() if entry["status"] == status)


def assert_rolled_back(report, world, gate):
    assert report["outcome"] == history.ROLLED_BACK and report["failure"]["gate"] == gate, report["failure"]
    assert report["versions"] == {"1": 3} and report["previous_version"] == "1"
    assert_clean(world, "1")


def test_5xx_bursts_are_retried_and_the_roll_converges_without_duplicates(world, emulator, emulator_control):
    at_version_1(world)
    bursts = [("GET", r"/linode/instances", 502, "before", 3),
              ("POST", r"/linode/instances", 500, "after", 1),  # the Linode is made, its answer lost
              ("PUT", r"/linode/instances/\d+", 503, "before", 2),
              ("DELETE", r"/linode/instances/\d+", 502, "after", 1),
              ("POST", r"/images", 503, "before", 2)]
    for method, path, status, when, count in bursts:
        emulator_control.add_fault(path, status, method=method, when=when, count=count)

    report = watched_roll(world, emulator, "2")

    assert report["outcome"] == history.SUCCEEDED, report["failure"]
    assert emulator_control.faults() == [], "every burst was met"
    assert sum(answered(emulator_control, status) for status in (500, 502, 503)) == 9
    assert sorted(report["created"]) == ["app-g2-1", "app-g2-2", "app-g2-3"]
    assert_clean(world, "2")


def record_and_sleep(waits):
    """A sleep for the provider that records each wait (and waits it)."""

    def sleep(seconds):
        waits.append(seconds)
        time.sleep(seconds)

    return sleep


def test_a_429_storm_is_waited_out_as_retry_after_says(emulator, emulator_control, tmp_path):
    waits = []
    provider = provider_for(emulator.api_url, sleep=record_and_sleep(waits))
    world = at_version_1(World(emulator.api_url, tmp_path, provider=provider))
    emulator_control.set_rate_limits(enabled=True, limits={"linode_create": {"limit": 1, "window": 1},
                                                                 "collection": {"limit": 10**6, "window": 60}})
    emulator_control.add_fault(r"/linode/instances", 429, method="POST", count=2, retry_after=0.3)
    emulator_control.add_fault(r"/linode/instances/\d+", 429, method="PUT", count=2, retry_after=0.3)

    report = watched_roll(world, emulator, "2")

    assert report["outcome"] == history.SUCCEEDED, report["failure"]
    assert answered(emulator_control, 429) >= 5, "the injected 429s and the rate limiter's"
    assert [w for w in waits if w >= 1.0], f"the limiter's Retry-After: 1 was honoured: {waits}"
    assert len([w for w in waits if w >= 0.3]) >= 4, f"every injected Retry-After: 0.3 was honoured: {waits}"
    assert_clean(world, "2")


def test_a_boot_that_fails_fails_the_running_gate_and_rolls_back(world, emulator, emulator_control):
    at_version_1(world)
    emulator_control.fail_boots(count=1)

    report = watched_roll(world, emulator, "2")

    assert_rolled_back(report, world, "running")
    assert report["failure"]["server"] == "app-g2-1"


def test_a_minion_that_never_connects_fails_the_minion_gate_and_rolls_back(emulator, tmp_path):
    world = at_version_1(World(emulator.api_url, tmp_path, never_connect={"app-g2-1"}), progress_deadline=1)

    report = watched_roll(world, emulator, "2", progress_deadline=1)

    assert_rolled_back(report, world, "minion")
    assert "did not answer" in report["failure"]["cause"]


def test_a_failed_capture_fails_the_bake_leaves_the_fleet_alone_and_the_next_roll_converges(
        world, emulator, emulator_control):
    at_version_1(world)
    emulator_control.fail_next_captures(1)

    report = watched_roll(world, emulator, "2")

    assert report["outcome"] == history.FAILED and report["created"] == [], report["failure"]
    assert "capture" in report["failure"]["cause"] or "image" in report["failure"]["cause"], report["failure"]
    assert world.provider.find_image("app-2") is None
    assert_clean(world, "1")
    assert watched_roll(world, emulator, "2")["outcome"] == history.SUCCEEDED
    assert_clean(world, "2")


def test_a_nodebalancer_that_never_reports_the_new_node_up_rolls_back(world, emulator, app):
    """Version 1 serves behind the NodeBalancer while its data plane runs; then the data plane stops (with
    ``--machines none`` the emulator runs no health check of its own), so a new node stays ``unknown``."""
    behind = {"nodebalancer": True, "http_port": app.port, "progress_deadline": 1}
    with DataPlane(emulator):
        at_version_1(world, **behind)
    old = {s.private_ip for s in world.provider.list_fleet("app")}

    report = watched_roll(world, emulator, "2", **behind)

    assert_rolled_back(report, world, "nodebalancer")
    assert node_hosts(world.provider) == old, "the failed server's node is gone, the old ones serve"


def test_an_emulator_restarted_mid_roll_is_outlasted_and_the_roll_converges(world, emulator, emulator_factory):
    at_version_1(world)
    port, provider = emulator.port, world.provider
    tag, restarts = provider.set_instance_tags, []

    def restart_then_tag(instance_id, tags):
        if "svc:in" in tags and not restarts:
            emulator.stop()
            restarts.append(emulator_factory(state_dir=world.folder / "emulator", port=port))
        return tag(instance_id, tags)

    provider.set_instance_tags = restart_then_tag

    report = watched_roll(world, emulator, "2")

    assert len(restarts) == 1 and restarts[0].port == port
    assert report["outcome"] == history.SUCCEEDED, report["failure"]
    assert_clean(world, "2")
