"""The runner face, loaded by Salt's runner loader from the installed entry point."""

import inspect
import pickle
import shlex
from pathlib import Path

import pytest
import salt.config
import salt.utils.args

from salt_immutable import errors
from salt_immutable.master import SaltMaster
from tests.functional.test_manual import FACES
from tests.support.emulator import EMULATOR_TOKEN
from tests.support.saltconfig import write_pillar

BAD_FLEET = {"linode": {"region": "us-east"}, "fleets": {"web": {"version": 1.4, "count": 2}}}


def test_plan_returns_the_example_fleet_with_defaults(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    ret = runners["immutable.plan"](offline=True)
    assert ret["result"] is True
    web = ret["fleets"]["web"]
    assert web["version"] == "1.0.0" and web["count"] == 3
    assert web["linode"] == {"region": "us-east", "type": "g6-standard-1", "base_image": "linode/debian12",
                             "firewall": None}
    assert web["rollout"]["max_surge"] == 1 and web["rollout"]["auto_rollback"] is True
    assert "retcode" not in context


def test_plan_for_one_fleet(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    assert list(runners["immutable.plan"](fleet="web", offline=True)["fleets"]) == ["web"]


def test_plan_of_an_unknown_fleet_fails_naming_it(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    ret = runners["immutable.plan"](fleet="db")
    assert ret["result"] is False and ret["retcode"] == 1 and context["retcode"] == 1
    assert ret["problems"] == [{"path": "fleet", "message": "no fleet 'db' in the pillar (it defines: web)"}]
    assert ret["error"] == "ArgumentError" and ret["comment"].startswith("invalid argument (1 problem):")


def test_bad_pillar_fails_with_every_problem_and_a_nonzero_retcode(tmp_path, master_opts, runner_loader):
    pillar = write_pillar(tmp_path / "pillar", BAD_FLEET)
    runners, context = runner_loader(master_opts(pillar_roots=[pillar]))
    ret = runners["immutable.plan"]()
    assert ret["result"] is False and ret["error"] == "SpecError"
    assert context["retcode"] == 1 and ret["retcode"] == 1
    assert {p["path"] for p in ret["problems"]} == {"immutable:fleets:web:version", "immutable:fleets:web:bake"}
    assert "immutable:fleets:web:version: expected a quoted string" in ret["comment"]


def test_missing_pillar_says_how_to_target_it(tmp_path, master_opts, runner_loader):
    empty = tmp_path / "empty"
    empty.mkdir()
    runners, _ = runner_loader(master_opts(pillar_roots=[empty]))
    ret = runners["immutable.plan"]()
    assert ret["result"] is False and "no immutable pillar" in ret["comment"]


def test_pillar_id_setting_selects_whose_pillar_is_compiled(tmp_path, master_opts, runner_loader):
    pillar = tmp_path / "pillar"
    write_pillar(pillar, {"linode": {"region": "eu-west"}, "fleets": {}})
    (pillar / "top.sls").write_text("base:\n  fleet-spec:\n    - immutable\n")
    runners, _ = runner_loader(master_opts(pillar_roots=[pillar], pillar_id="fleet-spec"))
    assert runners["immutable.plan"](offline=True) == {"result": True, "fleets": {}}


def test_bad_master_setting_is_a_clean_failure(master_opts, runner_loader):
    runners, context = runner_loader(master_opts(linode_tokn="x"))
    ret = runners["immutable.plan"]()
    assert ret["result"] is False and ret["error"] == "ConfigError" and context["retcode"] == 1
    assert "unknown key(s) linode_tokn" in ret["comment"]


def test_bake_refuses_a_version_that_salt_run_read_as_a_number(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    ret = runners["immutable.bake"](fleet="web", version=1.1)
    assert ret["result"] is False and context["retcode"] == 1
    message = ret["problems"][0]["message"]
    assert message.startswith("expected a version string, got the number 1.1: ")
    advice = message.rsplit(": ", 1)[1].removeprefix("version=")  # what the operator types after version=
    _args, kwargs = salt.utils.args.parse_input([f"version={shlex.split(advice)[0]}"], condition=False)
    assert kwargs["version"] == "1.10", "the advice must survive the shell and salt-run's argument parsing"


def test_token_in_master_config_never_reaches_the_return(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts(linode_token="tok-SECRET-123"))
    assert "tok-SECRET-123" not in repr(runners["immutable.plan"](offline=True))


def public_runner_functions(runners):
    return {name: func for name, func in runners.items() if name.startswith("immutable.")}


def test_every_public_runner_function_has_a_cli_example(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    functions = public_runner_functions(runners)
    declared = sorted(face.salt_name for face in FACES if face.folder == "_runners")  # read from the source
    assert sorted(functions) == declared, "Salt loads every verb"
    for name, func in functions.items():
        assert "CLI Example:" in (func.__doc__ or ""), name


def test_every_runner_argspec_pickles(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    for name, func in public_runner_functions(runners).items():
        spec = inspect.getfullargspec(func)
        assert pickle.loads(pickle.dumps(spec)) == spec, name


LIBRARY_ERRORS = [
    errors.SpecError([("immutable:fleets:web", "boom")]),
    errors.ConfigError("master config immutable: boom"),
    errors.NotFound("get instance", "web-g1-1", ["Not found"], 404),
    errors.Transient("create instance", "web-g1-1", ["Too many requests"], 429),
]


@pytest.mark.parametrize("error", LIBRARY_ERRORS, ids=lambda e: type(e).__name__)
def test_every_runner_function_converts_library_errors(monkeypatch, master_opts, runner_loader, error):
    from salt_immutable import api

    def fail(*_args, **_kwargs):
        raise error

    runners, context = runner_loader(master_opts())
    for name in public_runner_functions(runners):
        monkeypatch.setattr(api, name.split(".", 1)[1], fail)
        context.pop("retcode", None)  # what an earlier function set must not answer for this one
        ret = runners[name]()
        assert ret["result"] is False and ret["retcode"] == 1, name
        assert ret["error"] == type(error).__name__ and str(error) == ret["comment"]
        assert context.get("retcode") == 1, f"{name} leaves salt-run's exit code at 0"


def test_roll_and_rollback_refuse_a_version_salt_run_read_as_a_number(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    for name, argument in (("immutable.roll", {"version": 1.1}), ("immutable.rollback", {"to": 1.1})):
        context.pop("retcode", None)  # what the roll set must not answer for the rollback
        ret = runners[name](fleet="web", **argument)
        assert ret["result"] is False and ret["retcode"] == 1 and context.get("retcode") == 1, name
        assert ret["problems"][0]["message"].startswith("expected a version string, got the number 1.1")


def test_bake_rollback_and_unlock_need_a_fleet_argument(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    for verb in ("immutable.bake", "immutable.rollback", "immutable.unlock"):
        ret = runners[verb]()
        assert ret["result"] is False and ret["problems"][0]["message"].endswith("needs fleet=<name>"), verb
        assert ret["problems"][0]["path"] == "fleet" and ret["comment"].startswith("invalid argument"), verb


def test_a_version_argument_that_cannot_name_an_image_is_named_as_the_argument(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    ret = runners["immutable.bake"](fleet="web", version="1.0/evil")
    assert ret["comment"].startswith("invalid argument (1 problem):")
    assert [p["path"] for p in ret["problems"]] == ["version"]
    ret = runners["immutable.rollback"](fleet="web", to=1.1)
    assert [p["path"] for p in ret["problems"]] == ["to"] and "to='\"1.10\"'" in ret["problems"][0]["message"]


def test_a_stateful_fleet_is_accepted_and_its_plan_hands_each_slot_off(tmp_path, master_opts, runner_loader,
                                                                          emulator):
    fleet = {"version": "1.0.0", "count": 2, "bake": {"states": ["x"]},
             "tests": {"http": {"port": 8080, "path": "/healthz"}},
             "nodebalancer": {"label": "db-lb", "port": 80, "drain_seconds": 3},
             "volumes": [{"name": "data", "size": 10, "mount": "/srv/data"}]}
    pillar = write_pillar(tmp_path / "pillar", {"linode": {"region": "us-east"}, "fleets": {"db": fleet}})
    opts = master_opts(pillar_roots=[pillar], linode_token=EMULATOR_TOKEN, api_url=emulator.api_url,
                       master_address="127.0.0.1")
    runners, context = runner_loader(opts)
    ret = runners["immutable.plan"](fleet="db")
    assert ret["result"] is True and "retcode" not in context, ret
    db = ret["fleets"]["db"]
    assert db["peak_servers"] == 2 and db["surge_servers"] == 0
    actions = [action for batch in db["batches"] for action in batch["actions"]]
    assert [(a["action"], a["slot"], a["server"]) for a in actions] == [("hand-off", 1, "db-g1-1"),
                                                                       ("hand-off", 2, "db-g1-2")]
    operations = actions[0]["operations"]
    assert operations[0] == "create volume db-data-1 (10 GB)"
    assert operations[2].startswith("create Linode db-g1-1 offline from db-1.0.0")
    assert operations[3:5] == ["attach db-data-1 to db-g1-1", "boot db-g1-1"]
    assert "volumes (marker = volume id and slot)" in operations[5]


def test_unlock_refuses_a_name_that_is_no_fleet_name(master_opts, runner_loader):
    runners, _ = runner_loader(master_opts())
    ret = runners["immutable.unlock"](fleet="../etc")
    assert ret["result"] is False and ret["problems"][0]["message"].startswith("'../etc' cannot be a fleet name")


def test_history_is_empty_and_unlock_of_a_free_fleet_changes_nothing(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    assert runners["immutable.history"]() == {"result": True, "rolls": [], "archived_images": []}
    assert runners["immutable.unlock"](fleet="web") == {"result": True, "comment": "fleet web is not locked",
                                                        "lock": None}
    assert "retcode" not in context


def test_unlock_shows_the_holder_and_breaks_only_its_lock(master_opts, runner_loader):
    from salt_immutable.lock import FleetLock

    opts = master_opts()
    runners, _ = runner_loader(opts)
    held = FleetLock(f"{opts['cachedir']}/immutable", "web", "roll", roll_id="abcd1234").acquire()
    shown = runners["immutable.unlock"](fleet="web")
    assert shown["result"] is False and shown["lock"]["lock_id"] == held.lock_id
    assert f"lock_id={held.lock_id}" in shown["comment"] and "roll abcd1234" in shown["comment"]
    wrong = runners["immutable.unlock"](fleet="web", lock_id="0000")
    assert wrong["result"] is False and wrong["error"] == "LockHeld"
    broken = runners["immutable.unlock"](fleet="web", lock_id=held.lock_id)
    assert broken["result"] is True and broken["lock"]["roll_id"] == "abcd1234"
    assert not held.path.exists()


@pytest.mark.parametrize("keep", [0, -1, True, "2"])
def test_prune_refuses_a_keep_that_is_no_count_of_images_before_any_cloud_call(master_opts, runner_loader, keep):
    runners, context = runner_loader(master_opts())
    ret = runners["immutable.prune"](fleet="web", keep=keep)
    assert ret["result"] is False and ret["problems"][0]["path"] == "keep"
    assert "at least 1" in ret["problems"][0]["message"] and context["retcode"] == 1


def test_retire_refuses_a_fleet_the_pillar_still_wants_before_any_cloud_call(master_opts, runner_loader):
    runners, context = runner_loader(master_opts())
    ret = runners["immutable.retire"](fleet="web", delete_volumes=True)
    assert ret["result"] is False and context["retcode"] == 1
    assert ret["problems"][0]["path"] == "immutable:fleets:web:count"
    assert "still wants 3 servers" in ret["problems"][0]["message"]
    assert runners["immutable.retire"]()["problems"][0]["message"] == "retire needs fleet=<name>, got None"


def test_minion_calls_from_an_orchestration_a_reactor_started_authenticate_as_the_masters_user(master_opts):
    """The master config names its user: neither Salt's default nor whoever runs this test."""
    conf_file = Path(master_opts()["conf_file"])
    conf_file.write_text(conf_file.read_text() + "user: salt-svc\n")
    opts = salt.config.master_config(str(conf_file))
    assert opts["user"] == "salt-svc" != salt.config.DEFAULT_MASTER_OPTS["user"]
    opts["user"] = "Reactor"  # what state.orchestrate puts there when a reactor starts it
    assert SaltMaster(opts).client_opts()["user"] == "salt-svc"
    assert opts["user"] == "Reactor", "the caller's opts are left as they are"
