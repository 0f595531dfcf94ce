"""The orchestration states, loaded by Salt's state loader from the entry point, over a stubbed facade:
how each verb's return becomes Salt's state return (result, comment, changes; test=True; failures)."""

import pytest
import salt.config
import salt.loader

from salt_immutable import api
from salt_immutable.errors import ArgumentError

PREVIEW = {"from": {"1.0.0": 3}, "to": "1.1.0", "image": None, "peak_servers": 4,
           "operations": ["bake web-1.1.0: builder, configure, test, seal, capture, prove"],
           "batches": [{"actions": [{"action": "create", "server": "web-g2-1"}]},
                       {"actions": [{"action": "drain", "server": "web-g1-1"}]}], "changes": True}
CONVERGED = {**PREVIEW, "from": {"1.1.0": 3}, "image": "private/7", "operations": [], "batches": [], "changes": False}


@pytest.fixture
def states(master_opts):
    def load(test=False):
        opts = master_opts()
        opts["test"] = test
        minion_opts = salt.config.minion_config(None)
        minion_opts.update(opts)
        functions = salt.loader.minion_mods(minion_opts)
        return salt.loader.states(minion_opts, functions, {}, {})

    return load


def report(outcome="succeeded", created=("web-g2-1",), destroyed=("web-g1-1",)):
    return {"fleet": "web", "roll_id": "1a2b3c4d", "from": ["1.0.0"], "to": "1.1.0", "outcome": outcome,
            "changed": outcome != "unchanged", "created": list(created), "destroyed": list(destroyed)}


def test_test_mode_plans_a_bake_and_a_roll_with_result_none(states, monkeypatch):
    monkeypatch.setattr(api, "plan", lambda opts, fleet, version: {"fleets": {fleet: PREVIEW}})
    loaded = states(test=True)
    image = loaded["immutable.image_present"]("web")
    assert image["result"] is None and image["changes"] == {"planned": PREVIEW["operations"]}
    servers = loaded["immutable.fleet_converged"]("web")
    assert servers["result"] is None and servers["comment"] == "would roll web from 1.0.0 to 1.1.0"
    assert servers["changes"]["planned"]["batches"] == [["create web-g2-1"], ["drain web-g1-1"]]


def test_test_mode_of_a_converged_fleet_is_true_with_no_changes(states, monkeypatch):
    monkeypatch.setattr(api, "plan", lambda opts, fleet, version: {"fleets": {fleet: CONVERGED}})
    loaded = states(test=True)
    for name in ("immutable.image_present", "immutable.fleet_converged"):
        ret = loaded[name]("web")
        assert ret["result"] is True and ret["changes"] == {}, ret


def test_a_roll_reports_the_servers_it_replaced(states, monkeypatch):
    monkeypatch.setattr(api, "roll", lambda opts, **kw: {"result": True, "fleets": {"web": report()}})
    ret = states()["immutable.fleet_converged"]("web")
    assert ret["result"] is True and ret["comment"] == "fleet web rolled to 1.1.0 (roll 1a2b3c4d)"
    assert ret["changes"]["replaced"]["created"] == ["web-g2-1"]


def test_a_rolled_back_roll_fails_the_state_and_still_says_what_changed(states, monkeypatch):
    failed = {"result": False, "retcode": 1, "comment": "roll web to 1.1.0 failed on web-g2-1: boom",
              "fleets": {"web": report("rolled_back", destroyed=("web-g2-1",))}}
    monkeypatch.setattr(api, "roll", lambda opts, **kw: failed)
    ret = states()["immutable.fleet_converged"]("web")
    assert ret["result"] is False and ret["comment"] == failed["comment"]
    assert ret["changes"]["replaced"]["outcome"] == "rolled_back"


def test_a_failed_bake_or_a_bad_pillar_fails_the_state_with_the_cause(states, monkeypatch):
    def refuse(*args, **kwargs):
        raise ArgumentError([("fleet", "no fleet 'nope' in the pillar (it defines: web)")])

    monkeypatch.setattr(api, "bake", refuse)
    ret = states()["immutable.image_present"]("nope")
    assert ret["result"] is False and "fleet: no fleet 'nope' in the pillar" in ret["comment"]


def test_an_image_already_proven_is_no_change(states, monkeypatch):
    image = {"id": "private/7", "label": "web-1.1.0"}
    monkeypatch.setattr(api, "bake", lambda opts, name, **kw: {"changed": False, "image": image, "timings": {}})
    ret = states()["immutable.image_present"]("web")
    assert ret == {"name": "web", "result": True, "changes": {},
                   "comment": "image web-1.1.0 is proven already (private/7)"}


def test_prune_lists_what_would_go_under_test_and_what_went(states, monkeypatch):
    def prune(opts, fleet, keep, test, wait, progress):
        key = "would_delete" if test else "deleted"
        return {"result": True, "fleets": {fleet: {key: [{"label": "web-0.9.0"}], "kept": []}}}

    monkeypatch.setattr(api, "prune", prune)
    planned = states(test=True)["immutable.images_pruned"]("web")
    assert planned["result"] is None and planned["changes"] == {"would_delete": ["web-0.9.0"]}
    done = states()["immutable.images_pruned"]("web")
    assert done["result"] is True and done["changes"] == {"deleted": ["web-0.9.0"]}
