"""The README's two install paths, each on a real salt-master with a real minion."""

import filecmp
import json
from pathlib import Path

import pytest
import yaml

from tests.support.saltconfig import REPO

PROVENANCE = {"fleet": "web", "version": "1.0.0"}


@pytest.fixture
def release_file(tmp_path):
    path = tmp_path / "immutable-release"
    path.write_text(json.dumps(PROVENANCE))
    return path


def assert_example_plan(result):
    assert result.returncode == 0, result.stderr
    web = result.data["fleets"]["web"]
    assert web["version"] == "1.0.0" and web["count"] == 3
    assert web["bake"] == {"states": ["examples.webapp"], "secrets": ["webapp:build_token"]}


# ----------------------------------------------------------------------- way 1: pip install


def test_pip_install_registers_the_runner_without_any_sync(pip_master):
    extension_runner = Path(pip_master.config["extension_modules"]) / "runners" / "immutable.py"
    assert not extension_runner.exists()
    assert_example_plan(pip_master.salt_run_cli().run("immutable.plan", "offline=True"))


def test_pip_install_minions_sync_the_module_from_the_file_root(pip_master, pip_minion, release_file):
    salt = pip_master.salt_cli()
    synced = salt.run("saltutil.sync_modules", minion_tgt=pip_minion.id)
    assert synced.returncode == 0 and "modules.immutable" in synced.data
    release = salt.run("immutable.release", f"path={release_file}", minion_tgt=pip_minion.id)
    assert release.data == PROVENANCE


@pytest.fixture
def swap_pip_pillar(pip_pillar):
    original = (pip_pillar / "immutable.sls").read_text()

    def swap(immutable):
        (pip_pillar / "immutable.sls").write_text(yaml.safe_dump({"immutable": immutable}))

    yield swap
    (pip_pillar / "immutable.sls").write_text(original)


def test_bad_pillar_exits_nonzero_naming_the_path_without_traceback(pip_master, swap_pip_pillar):
    swap_pip_pillar(
        {
            "linode": {"region": "us-east"},
            "fleets": {"web": {"version": "1.0.0", "count": 2, "bake": {"states": ["x"]},
                               "rollout": {"max_surge": "lots"}}},
        }
    )
    result = pip_master.salt_run_cli().run("immutable.plan")
    assert result.returncode == 1
    assert result.data["result"] is False
    assert result.data["problems"] == [
        {
            "path": "immutable:fleets:web:rollout:max_surge",
            "message": "expected an integer >= 0 or a percentage such as \"25%\", got string 'lots'",
        }
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_fleet_exits_nonzero(pip_master):
    result = pip_master.salt_run_cli().run("immutable.plan", "fleet=db")
    assert result.returncode == 1
    assert result.data["problems"][0]["path"] == "fleet"


# ----------------------------------------------------------------------- way 2: classic sync


def test_classic_sync_installs_the_runner_into_extension_modules(classic_master):
    synced = classic_master.salt_run_cli().run("saltutil.sync_runners")
    assert synced.returncode == 0 and "runners.immutable" in synced.data
    synced_file = Path(classic_master.config["extension_modules"]) / "runners" / "immutable.py"
    assert filecmp.cmp(synced_file, REPO / "_runners" / "immutable.py", shallow=False)
    assert_example_plan(classic_master.salt_run_cli().run("immutable.plan", "offline=True"))


def assert_orchestration_states_load(master):
    """The orchestration states answer (here: an unknown fleet, named as the argument): they were loaded."""
    result = master.salt_run_cli().run("state.orch", "orch.immutable.bake", 'pillar={"fleet": "nope"}')
    assert result.returncode != 0
    (returns,) = result.data.values() if "data" not in result.data else result.data["data"].values()
    (state,) = returns.values()
    assert state["result"] is False and "fleet: no fleet 'nope' in the pillar" in state["comment"], state


def test_the_entry_point_gives_orchestration_the_states(pip_master):
    assert_orchestration_states_load(pip_master)


def test_classic_sync_installs_the_orchestration_states(classic_master):
    synced = classic_master.salt_run_cli().run("saltutil.sync_states")
    assert synced.returncode == 0 and "states.immutable" in synced.data
    synced_file = Path(classic_master.config["extension_modules"]) / "states" / "immutable.py"
    assert filecmp.cmp(synced_file, REPO / "_states" / "immutable.py", shallow=False)
    assert_orchestration_states_load(classic_master)


def test_classic_minions_sync_the_module_from_the_repository(classic_master, classic_minion, release_file):
    salt = classic_master.salt_cli()
    synced = salt.run("saltutil.sync_modules", minion_tgt=classic_minion.id)
    assert synced.returncode == 0 and "modules.immutable" in synced.data
    release = salt.run("immutable.release", f"path={release_file}", minion_tgt=classic_minion.id)
    assert release.data == PROVENANCE
    missing = salt.run("immutable.release", "path=/nonexistent/immutable-release", minion_tgt=classic_minion.id)
    assert missing.returncode != 0
    assert "was not booted from a salt-immutable image" in missing.stdout


def test_masters_never_auto_accept(pip_master, classic_master):
    for master in (pip_master, classic_master):
        assert master.config.get("auto_accept") is False
        assert master.config.get("open_mode") is False
