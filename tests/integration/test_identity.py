"""Identity, with a real salt-master and real salt-minions: pillar follows the key-bound minion id, not
the grains a minion reports, and a minion pinned to the master's key fingerprint trusts no other master."""

import pytest
from pytestshellutils.exceptions import FactoryNotStarted

from salt_immutable.master import SaltMaster
from tests.support.saltdaemons import preaccept_minion_key, running_minion

LYING_GRAINS = {"immutable": {"fleet": "web", "version": "1.0.0", "role": "server"}}


def test_a_builder_that_claims_to_be_a_server_still_gets_no_boot_time_pillar(pip_master):
    with running_minion(pip_master, "web-1.0.0-build", grains=LYING_GRAINS) as builder:
        salt = pip_master.salt_cli()
        assert salt.run("grains.get", "immutable:role", minion_tgt=builder.id).data == "server"
        pillar = salt.run("pillar.items", minion_tgt=builder.id).data
    assert sorted(pillar["webapp"]) == ["build_token"]  # values come back masked


def test_a_server_gets_its_boot_time_pillar(pip_master):
    with running_minion(pip_master, "web-g1-1", grains=LYING_GRAINS) as server:
        pillar = pip_master.salt_cli().run("pillar.items", minion_tgt=server.id).data
    assert sorted(pillar["webapp"]) == ["api_key"]


def test_a_minion_pinned_to_the_masters_fingerprint_answers(pip_master):
    finger = SaltMaster(pip_master.config.copy()).master_finger()
    with running_minion(pip_master, "pinned-minion", master_finger=finger) as minion:
        assert pip_master.salt_cli().run("test.ping", minion_tgt=minion.id).data is True


def test_a_minion_pinned_to_another_fingerprint_refuses_the_master(pip_master):
    minion = pip_master.salt_minion_daemon("mispinned-minion", overrides={"master_finger": "00:" * 31 + "00"})
    preaccept_minion_key(pip_master, minion)
    try:
        with pytest.raises(FactoryNotStarted):
            minion.start(max_start_attempts=1, start_timeout=10)
    finally:
        minion.terminate()
    with open(minion.config["log_file"], encoding="utf-8") as log:
        assert "Does not match the authenticating master's key" in log.read()
