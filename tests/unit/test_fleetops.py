"""A fleet's roll around the reconciler — lock, history, events, auto-rollback — on the fakes of test_roll."""

import dataclasses

import pytest

from salt_immutable import fleetops, history, roll
from salt_immutable import lock as locking
from salt_immutable.errors import LockHeld, RollError, SaltCallError
from salt_immutable.model import NodeBalancerConfigRef, NodeBalancerRef
from tests.support.clock import FakeClock
from tests.unit.test_roll import IMAGE, IP, FakeCloud, FakeSalt, fleet_spec, old_fleet

OLD_IMAGE = IMAGE.__class__(**{**IMAGE.__dict__, "id": "private/8", "label": "web-1",
                               "tags": ("immutable", "fleet:web", "version:1", "proven")})


class Cloud(FakeCloud):
    """The fake cloud, with the fleet's NodeBalancer and the proven images of versions 1 and 2."""

    def find_nodebalancer(self, label):
        return NodeBalancerRef(1, label, "us-east", IP, None, ())

    def list_nodebalancer_configs(self, nodebalancer_id):
        return [NodeBalancerConfigRef(2, 1, 80, "http", "http", "/healthz", 5, 3, 2)]

    def find_image(self, label, tags):
        return {"web-2": IMAGE, "web-1": OLD_IMAGE}.get(label)


@pytest.fixture
def fleet_world(app_port, tmp_path, monkeypatch):
    # Every fake server shares one loopback address: tell their nodes apart by label.
    monkeypatch.setattr(roll.Balancer, "address", lambda self, server: f"{server.label}:{IP}:{self.backend_port}")
    clock = FakeClock(min_step=0.01)
    cloud = Cloud(clock)
    cloud.port = app_port
    events, lines = [], []
    salt = FakeSalt(cloud)
    ctx = fleetops.Context(provider=cloud, salt=salt, master_address=IP, master_port=4506, folder=str(tmp_path),
                           bake=None, user="ops", progress=lines.append,
                           fire=lambda tag, data: events.append((tag.rsplit("/", 1)[1], data)), clock=clock,
                           sleep=clock.sleep)
    old_fleet(cloud, salt)
    return ctx, cloud, salt, events, lines


def roll_to_2(ctx, port, **rollout):
    return fleetops.roll_fleet(ctx, fleet_spec(port, **rollout), "2")


def test_a_converged_fleet_is_left_alone_with_no_record(fleet_world, app_port):
    ctx, cloud, _, events, _ = fleet_world
    report = fleetops.roll_fleet(ctx, fleet_spec(app_port), "1")
    assert report["outcome"] == "unchanged" and not report["changed"]
    assert cloud.log == [] and events == [] and history.records(ctx.folder) == []
    assert locking.holder(ctx.folder, "web") is None


def test_a_roll_is_recorded_and_fires_its_phases(fleet_world, app_port):
    ctx, _, _, events, _ = fleet_world
    report = roll_to_2(ctx, app_port)
    assert report["outcome"] == "succeeded" and report["versions"] == {"2": 3}
    (record,) = history.records(ctx.folder, "web")
    assert (record.outcome, record.from_versions, record.to_version, record.user) == ("succeeded", ["1"], "2", "ops")
    assert sorted(record.destroyed) == ["web-g1-1", "web-g1-2", "web-g1-3"] and len(record.created) == 3
    phases = [phase for phase, _ in events]
    assert phases[0] == "started" and phases[-1] == "finished" and phases.count("batch") == 6
    assert all(data["roll_id"] == record.roll_id for _, data in events)


def test_a_failed_gate_rolls_back_to_the_version_the_fleet_ran(fleet_world, app_port):
    ctx, _, salt, events, _ = fleet_world
    salt.fail[("web-g2-2", "immutable.verify")] = {"result": False, "failures": ["saltcheck webapp: nope"]}
    with pytest.raises(RollError) as failed:
        roll_to_2(ctx, app_port)
    report = failed.value.report
    assert report["outcome"] == "rolled_back" and report["previous_version"] == "1"
    assert report["failure"] == {"server": "web-g2-2", "gate": "verify",
                                 "cause": "tests failed on web-g2-2: saltcheck webapp: nope"}
    assert report["versions"] == {"1": 3} and "web-g2-2" not in salt.keys
    assert [phase for phase, _ in events if phase != "batch"] == ["started", "failed", "rolled_back"]
    assert history.records(ctx.folder)[0].outcome == "rolled_back"


def test_a_lost_lock_stops_the_roll_with_no_rollback(fleet_world, app_port):
    ctx, cloud, _, _, _ = fleet_world
    created = cloud.create_instance

    def create_then_lose_the_lock(*args, **kwargs):
        held = locking.holder(ctx.folder, "web")
        locking.break_lock(ctx.folder, "web", held["lock_id"])
        return created(*args, **kwargs)

    cloud.create_instance = create_then_lose_the_lock
    with pytest.raises(RollError) as failed:
        roll_to_2(ctx, app_port)
    report = failed.value.report
    assert report["outcome"] == "failed" and report["previous_version"] is None
    assert "lost the lock of fleet web" in report["failure"]["cause"], report["failure"]
    assert [entry for entry in cloud.log if entry[0] in ("create", "delete")] == [("create", "web-g2-1")]


def test_a_second_roll_of_a_locked_fleet_refuses_naming_the_holder(fleet_world, app_port):
    ctx, _, _, _, _ = fleet_world
    held = locking.FleetLock(ctx.folder, "web", "bake").acquire()
    with pytest.raises(LockHeld, match=f"held by bake \\(lock id {held.lock_id}\\)"):
        roll_to_2(ctx, app_port)


def test_fleets_roll_concurrently_and_one_failure_fails_the_run_but_not_the_others():
    from types import SimpleNamespace

    from salt_immutable import api

    started = []

    def work(fleet):
        started.append(fleet.name)
        if fleet.name == "db":
            raise RollError("roll db to 2 failed on db-g2-1: boom", {"fleet": "db", "outcome": "rolled_back"})
        return {"fleet": fleet.name, "outcome": "succeeded", "changed": True}

    ret = api.gather([SimpleNamespace(name="web"), SimpleNamespace(name="db")], work)
    assert sorted(started) == ["db", "web"]
    assert ret["result"] is False and ret["retcode"] == 1 and ret["changed"] is True
    assert ret["fleets"]["web"]["outcome"] == "succeeded" and ret["fleets"]["db"]["outcome"] == "rolled_back"
    assert ret["comment"] == "roll db to 2 failed on db-g2-1: boom"


def at_version(port, version):
    return dataclasses.replace(fleet_spec(port), version=version)


def drift_answer(*files):
    return {"result": not files, "drifted": [{"id": f"edit-{path}", "state": "file.managed", "name": path}
                                              for path in files], "ignored": []}


def test_drift_reports_each_server_and_never_takes_an_unreachable_one_for_clean(fleet_world, app_port):
    ctx, cloud, salt, _, lines = fleet_world
    salt.fail.update({("web-g1-1", "immutable.drift"): drift_answer(),
                      ("web-g1-2", "immutable.drift"): drift_answer("/etc/webapp/webapp.conf"),
                      ("web-g1-3", "saltutil.sync_modules"): "Minion did not return"})
    salt.call = _raising_on_strings(salt.call)
    report = fleetops.check_drift(ctx, at_version(app_port, "1"))
    assert report["drifted"] == ["web-g1-2"] and report["clean"] == ["web-g1-1"]
    assert report["servers"]["web-g1-2"]["files"] == ["/etc/webapp/webapp.conf"]
    assert "Minion did not return" in report["unreachable"]["web-g1-3"]
    assert any("drift: web-g1-2 differs: /etc/webapp/webapp.conf" in line for line in lines)
    assert cloud.log == [], "drift without replace changed the cloud"


def test_drift_replace_replaces_only_the_drifted_servers(fleet_world, app_port):
    ctx, cloud, _, _, _ = fleet_world
    report = {"versions": {"1": 3}, "drifted": ["web-g1-2"]}
    result = fleetops.replace_drifted(ctx, at_version(app_port, "1"), report)
    assert result["verb"] == "replace" and result["destroyed"] == ["web-g1-2"] and len(result["created"]) == 1
    labels = sorted(s.label for s in cloud.list_fleet("web"))
    assert labels == sorted(["web-g1-1", "web-g1-3", *result["created"]])
    (record,) = history.records(ctx.folder, "web")
    assert record.verb == "replace"


def test_drift_replace_refuses_a_fleet_that_does_not_run_its_pillar_version(fleet_world, app_port):
    ctx, cloud, _, _, _ = fleet_world
    with pytest.raises(RollError, match=r"drift replace web: the fleet runs 1, not the pillar's 2: roll it first"):
        fleetops.replace_drifted(ctx, at_version(app_port, "2"), {"versions": {"1": 3}, "drifted": ["x"]})
    assert history.records(ctx.folder) == [] and cloud.log == []


def _raising_on_strings(call):
    """The fake answers failures as (value, 1); the real master raises SaltCallError for a text answer."""
    def wrapped(minion_id, fun, arg=(), kwarg=None, timeout=300):
        answer, retcode = call(minion_id, fun, arg, kwarg, timeout)
        if retcode and isinstance(answer, str):
            raise SaltCallError(f"{fun} on {minion_id} failed: {answer}")
        return answer, retcode
    return wrapped


def test_a_checkpoint_timeout_rolls_back_without_asking_again_and_the_record_keeps_the_timeline(
        fleet_world, app_port):
    ctx, _cloud, salt, events, _ = fleet_world
    with pytest.raises(RollError) as failed:
        roll_to_2(ctx, app_port, checkpoints=[1], checkpoint_timeout=30)
    report = failed.value.report
    assert report["outcome"] == "rolled_back" and report["versions"] == {"1": 3}
    assert report["failure"] == {"server": None, "gate": "checkpoint",
                                 "cause": "not approved within 30 s"}
    assert len(salt.awaited) == 1, "the rollback must not wait at a checkpoint"
    assert [phase for phase, _ in events if phase != "batch"] == ["started", "checkpoint", "failed", "rolled_back"]
    (record,) = history.records(ctx.folder, "web")
    fleet_wide = [event["event"] for event in record.events if event["server"] is None]
    assert fleet_wide[:4] == ["batch", "checkpoint", "checkpoint_timeout", "rollback"]
    assert [e["event"] for e in record.events if e["server"] == "web-g2-1"][-1] == "destroyed"
    assert "events" not in fleetops.history_rows(ctx.folder, "web")[0]


def test_rollbacks_and_replacements_never_stop_at_checkpoints(fleet_world, app_port):
    ctx, _, salt, _, _ = fleet_world
    paused = fleet_spec(app_port, checkpoints=[1])
    back = fleetops.roll_fleet(ctx, paused, "2", verb="rollback")
    assert back["outcome"] == "succeeded" and back["versions"] == {"2": 3}
    replaced = fleetops.roll_fleet(ctx, paused, "2", verb="replace", replace=("web-g2-1",))
    assert replaced["outcome"] == "succeeded" and "web-g2-1" in replaced["destroyed"] and len(replaced["created"]) == 1
    assert salt.awaited == [], "a rollback or a replacement paused at a checkpoint"
