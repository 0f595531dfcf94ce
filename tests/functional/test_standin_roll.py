"""The stand-in harness of the benchmarks and the reliability suite (``tests/support/standin.py``): a real
roll over real HTTP against the emulator without machines, behind a managed Cloud Firewall."""

import random

import pytest

from salt_immutable import fleetops, history, spec
from salt_immutable.errors import RollError
from salt_immutable.linode import LinodeProvider
from tests.support import standin
from tests.support.emulator import EMULATOR_TOKEN

FLEET = spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {"app": {
    "version": "1", "count": 3, "bake": {"states": ["app"]}, "rollout": {"max_surge": 1, "progress_deadline": 60},
    "linode": {"firewall": {"label": "app-fw", "rules": {}}},
}}}}).fleet("app")


def provider_for(emulator):
    return LinodeProvider(EMULATOR_TOKEN, emulator.api_url, poll_interval=0.02, backoff=0.01, max_backoff=0.05,
                          rng=random.Random(0))


def test_a_roll_with_the_stand_in_converges_and_a_second_run_changes_nothing(emulator, tmp_path):
    provider = provider_for(emulator)
    salt = standin.StandInSalt(provider, key_file=tmp_path / "keys.json")
    ctx = standin.context(provider, salt, tmp_path / "state")

    report = fleetops.roll_fleet(ctx, FLEET, "1")

    assert report["outcome"] == history.SUCCEEDED and report["versions"] == {"1": 3}
    servers = provider.list_fleet("app")
    assert sorted(s.label for s in servers) == ["app-g1-1", "app-g1-2", "app-g1-3"]
    assert standin.StandInSalt(provider, key_file=tmp_path / "keys.json").key_ids() == sorted(s.label for s in servers)
    assert provider.firewall_linode_ids(provider.find_firewall("app-fw").id) == {s.id for s in servers}
    assert [call for call in salt.calls if call[1] == "immutable.release"], "the release gate asked"
    assert fleetops.roll_fleet(ctx, FLEET, "1")["outcome"] == "unchanged"


def test_a_wrong_release_fails_the_release_gate(emulator, tmp_path):
    provider = provider_for(emulator)
    salt = standin.StandInSalt(provider)
    salt.release_of = lambda minion_id: {"fleet": "app", "version": "0"}
    ctx = standin.context(provider, salt, tmp_path / "state")

    with pytest.raises(RollError) as failed:
        fleetops.roll_fleet(ctx, FLEET, "1")
    assert failed.value.report["failure"]["gate"] == "release" and provider.list_fleet("app") == []
