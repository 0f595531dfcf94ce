"""The README's two install paths, each on a real salt-master run from a Python set up as a user's is.

Way 1: the wheel pip-installed (not editable) into a fresh environment that cannot see this repository;
the master runs from it with the README's config: ``file_roots`` holding ``/srv/salt`` (here an empty
folder, not the example ``salt/`` tree) and the folder ``salt-immutable file-root`` printed.

Way 2: a master whose Python has Salt and no salt-immutable (no entry point), the repository served by
``file_roots``, the faces brought by ``saltutil.sync_*``. The library is given to the ``salt-run``
processes that need it (``PYTHONPATH`` to a folder holding only ``salt_immutable``): runners and
orchestration states run in the ``salt-run`` process.

Which file a loader module came from is what the ``salt-run`` process that used it read: its
``PYTHONVERBOSE=1`` trace names the code it loaded. Minions run from the Python with no salt-immutable.
"""

import contextlib
import filecmp
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.support.install import SEES_SALT_IMMUTABLE, built_wheel, code_loaded, env_factories, fresh_env
from tests.support.lab import WebhookReceiver
from tests.support.saltconfig import REPO, readme_master_config
from tests.support.saltdaemons import master_factory, preaccept_minion_key

PROVENANCE = {"fleet": "web", "version": "1.0.0"}
VERBOSE = {"PYTHONVERBOSE": "1"}
NOT_INSTALLED = (
    "'immutable' __virtual__ returned False: the salt_immutable library is not importable "
    "(No module named 'salt_immutable'): pip install salt-immutable"
)
PROGRESS_LINE = "[web@1.1.0] sealing"


@pytest.fixture(scope="module")
def roots():
    """A short private folder for the daemons' root_dirs (unix socket paths), removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="si-install-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """Way 1's Python: the wheel pip-installed into a fresh environment."""
    return fresh_env(tmp_path_factory.mktemp("wheel-env"), wheel=built_wheel(tmp_path_factory))


@pytest.fixture(scope="module")
def bare_env(tmp_path_factory):
    """Way 2's Python: Salt, linode_api4, ... and no salt-immutable."""
    return fresh_env(tmp_path_factory.mktemp("bare-env"))


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A folder holding only the ``salt_immutable`` library, for ``PYTHONPATH``."""
    folder = tmp_path_factory.mktemp("library")
    (folder / "salt_immutable").symlink_to(REPO / "salt_immutable")
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A working directory outside the repository."""
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(scope="module")
def file_root(wheel_env, outside):
    printed = wheel_env.run("salt-immutable", "file-root", cwd=outside)
    assert printed.returncode == 0, printed.stderr
    return Path(printed.stdout.strip())


@pytest.fixture(scope="module")
def wheel_pillar(tmp_path_factory):
    """The example pillar in a folder tests may rewrite (restored by ``swap_pillar``)."""
    folder = tmp_path_factory.mktemp("wheel-pillar")
    shutil.copytree(REPO / "pillar", folder, dirs_exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def wheel_master(salt_factories, wheel_env, file_root, wheel_pillar, webhook, roots, tmp_path_factory):
    """README way 1: ``file_roots`` = /srv/salt (empty) + the file-root folder; a reactor on failed rolls."""
    srv_salt = tmp_path_factory.mktemp("srv-salt")
    config = readme_master_config([srv_salt, file_root], [wheel_pillar])
    config["reactor"] = [{"salt/immutable/*/roll/failed": ["salt://reactor/immutable/notify.sls"]}]
    config["immutable_reactor"] = {"webhook": webhook.url}
    factory = master_factory(env_factories(salt_factories, wheel_env, roots), "wheel-master", config)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def bare_factories(salt_factories, bare_env, roots):
    return env_factories(salt_factories, bare_env, roots)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The repository as a clone has it (a checkout of the faces, the trees), without .venv, build or .git."""
    folder = tmp_path_factory.mktemp("salt-immutable")
    for tree in ("_runners", "_states", "_modules", "_output", "salt", "pillar"):
        shutil.copytree(REPO / tree, folder / tree, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="module")
def bare_master(bare_factories, clone):
    """README way 2: the repository's root and its ``salt/`` served by ``file_roots``; no entry point."""
    config = readme_master_config([clone / "salt", clone], [clone / "pillar"])
    factory = master_factory(bare_factories, "bare-master", config)
    with factory.started():
        yield factory


@contextlib.contextmanager
def bare_minion(bare_factories, master, minion_id):
    """A minion of ``master`` run from the Python with no salt-immutable, its key pre-accepted."""
    minion = bare_factories.salt_minion_daemon(minion_id, master=master)
    preaccept_minion_key(master, minion)
    with minion.started():
        yield minion


@pytest.fixture
def release_file(tmp_path):
    path = tmp_path / "immutable-release"
    path.write_text(json.dumps(PROVENANCE))
    return path


def extension_folder(master, kind):
    return Path(master.config["extension_modules"]).resolve() / kind


def assert_example_plan(result):
    assert result.returncode == 0 and isinstance(result.data, dict), result.stdout + result.stderr[-2000:]
    web = result.data["fleets"]["web"]
    assert web["version"] == "1.0.0" and web["count"] == 3
    assert web["bake"] == {"states": ["examples.webapp"], "secrets": ["webapp:build_token"]}


def orchestrate_unknown_fleet(master, sls, **env):
    """``state.orch <sls>`` for a fleet that does not exist: the process and the master's returns."""
    result = master.salt_run_cli().run("state.orch", sls, 'pillar={"fleet": "nope"}', env=env)
    (returns,) = result.data["data"].values()
    return result, returns


def assert_image_state_ran(returns):
    """The orchestration states were loaded and ran: the image state names the unknown fleet."""
    assert isinstance(returns, dict), returns
    state = returns["immutable_|-immutable-nope-image_|-nope_|-image_present"]
    assert state["result"] is False and "fleet: no fleet 'nope' in the pillar" in state["comment"], state


# ----------------------------------------------------------------------- way 1: pip install


def test_the_wheel_installs_into_an_environment_that_cannot_see_the_repository(wheel_env, outside):
    probe = (
        "import importlib.metadata as m, json, salt_immutable, sys\n"
        "print(json.dumps({'library': salt_immutable.__file__, 'path': sys.path,\n"
        "  'dists': [str(d._path) for d in m.distributions() if d.metadata['Name'] == 'salt-immutable'],\n"
        "  'entry_points': [(e.name, e.value) for e in m.entry_points(group='salt.loader')\n"
        "                   if e.dist.metadata['Name'] == 'salt-immutable']}))"
    )
    found = wheel_env.run("python", "-c", probe, cwd=outside)
    assert found.returncode == 0, found.stderr
    found = json.loads(found.stdout)
    assert Path(found["library"]) == wheel_env.site / "salt_immutable" / "__init__.py"
    assert [Path(dist).parent for dist in found["dists"]] == [wheel_env.site]
    assert found["entry_points"] == [["salt-immutable", "salt_immutable.loader:extension_dirs"]]
    assert not any(entry.startswith(str(REPO)) for entry in found["path"]), found["path"]


def test_file_root_prints_an_installed_folder_with_the_modules_orchestration_and_reactor(file_root, wheel_env):
    assert file_root == wheel_env.site / "salt_immutable" / "faces"
    for relative, source in (("_modules/immutable.py", "_modules/immutable.py"),
                             ("orch/immutable/roll.sls", "salt/orch/immutable/roll.sls"),
                             ("reactor/immutable/notify.sls", "salt/reactor/immutable/notify.sls")):
        shipped = file_root / relative
        assert not any(part.is_symlink() for part in (shipped, *shipped.parents)), shipped
        assert shipped.read_bytes() == (REPO / source).read_bytes(), relative


def test_pip_install_registers_the_runner_without_any_sync(wheel_master, file_root):
    assert not extension_folder(wheel_master, "runners").exists()
    result = wheel_master.salt_run_cli().run("immutable.plan", "offline=True", env=VERBOSE)
    assert_example_plan(result)
    assert code_loaded(result.stderr, {"_runners", "runners"}) == {file_root / "_runners" / "immutable.py"}


def test_the_entry_point_gives_orchestration_the_states_and_the_file_root_the_orchestration_files(
        wheel_master, file_root):
    assert not extension_folder(wheel_master, "states").exists()
    result, returns = orchestrate_unknown_fleet(wheel_master, "orch.immutable.roll", **VERBOSE)
    assert_image_state_ran(returns)
    assert {state["__id__"] for state in returns.values()} == {
        "immutable-nope-image", "immutable-nope-servers", "immutable-nope-images"}
    assert code_loaded(result.stderr, {"_states", "states"}) == {file_root / "_states" / "immutable.py"}


def test_the_entry_point_gives_salt_run_the_progress_outputter(wheel_master):
    assert not extension_folder(wheel_master, "output").exists()
    shown = wheel_master.salt_run_cli().run("salt.cmd", "test.outputter", json.dumps({"message": PROGRESS_LINE}),
                                            "--out=immutable_progress")
    assert shown.stdout.strip() == PROGRESS_LINE, shown.stdout + shown.stderr


def test_the_file_root_serves_the_reactor_recipes(wheel_master, webhook):
    data = {"roll_id": 7, "to": "1.1.0", "failure": {"server": "web-g2-1", "cause": "gate http failed"}}
    sent = wheel_master.salt_run_cli().run("event.send", "salt/immutable/web/roll/failed", f"data={json.dumps(data)}")
    assert sent.returncode == 0, sent.stderr
    posted = webhook.wait_for(lambda body: body.get("tag") == "salt/immutable/web/roll/failed", timeout=30)
    assert posted is not None, "notify.sls never posted: salt://reactor/immutable/notify.sls did not resolve"
    assert posted["text"] == "roll 7 of web to 1.1.0 failed on web-g2-1: gate http failed"


def test_pip_install_minions_sync_the_module_from_the_file_root(bare_factories, wheel_master, release_file):
    with bare_minion(bare_factories, wheel_master, "wheel-minion") as minion:
        salt = wheel_master.salt_cli()
        synced = salt.run("saltutil.sync_modules", minion_tgt=minion.id)
        assert synced.returncode == 0 and synced.data == ["modules.immutable"], synced.stdout + synced.stderr
        release = salt.run("immutable.release", f"path={release_file}", minion_tgt=minion.id)
        assert release.data == PROVENANCE


def test_a_synced_runner_takes_precedence_over_the_installed_one(wheel_master):
    runners = extension_folder(wheel_master, "runners")
    try:
        synced = wheel_master.salt_run_cli().run("saltutil.sync_runners")
        assert synced.returncode == 0 and synced.data == ["runners.immutable"], synced.stdout + synced.stderr
        result = wheel_master.salt_run_cli().run("immutable.plan", "offline=True", env=VERBOSE)
        assert_example_plan(result)
        assert code_loaded(result.stderr, {"_runners", "runners"}) == {runners / "immutable.py"}
    finally:
        shutil.rmtree(runners, ignore_errors=True)


@pytest.fixture
def swap_pillar(wheel_pillar):
    original = (wheel_pillar / "immutable.sls").read_text()

    def swap(immutable):
        (wheel_pillar / "immutable.sls").write_text(yaml.safe_dump({"immutable": immutable}))

    yield swap
    (wheel_pillar / "immutable.sls").write_text(original)


def test_bad_pillar_exits_nonzero_naming_the_path_without_traceback(wheel_master, swap_pillar):
    swap_pillar(
        {
            "linode": {"region": "us-east"},
            "fleets": {"web": {"version": "1.0.0", "count": 2, "bake": {"states": ["x"]},
                               "rollout": {"max_surge": "lots"}}},
        }
    )
    result = wheel_master.salt_run_cli().run("immutable.plan")
    assert result.returncode == 1
    assert result.data["result"] is False
    assert result.data["problems"] == [
        {
            "path": "immutable:fleets:web:rollout:max_surge",
            "message": "expected an integer >= 0 or a percentage such as \"25%\", got string 'lots'",
        }
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_fleet_exits_nonzero(wheel_master):
    result = wheel_master.salt_run_cli().run("immutable.plan", "fleet=db")
    assert result.returncode == 1
    assert result.data["problems"][0]["path"] == "fleet"


# ----------------------------------------------------------------------- way 2: classic sync


@pytest.fixture
def extension_modules(bare_master):
    """The bare master's extension_modules, emptied of what a test synced (each test starts unsynced)."""
    folder = Path(bare_master.config["extension_modules"]).resolve()
    yield folder
    for kind in ("runners", "states", "output"):
        shutil.rmtree(folder / kind, ignore_errors=True)


def test_the_bare_python_has_no_salt_immutable(bare_env, outside):
    found = bare_env.run("python", "-c", SEES_SALT_IMMUTABLE, cwd=outside)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr  # no library, no dist: no entry point


def test_classic_sync_installs_the_runner_and_the_synced_runner_is_the_one_used(
        bare_master, extension_modules, library):
    run = bare_master.salt_run_cli().run
    synced = run("saltutil.sync_runners")
    assert synced.returncode == 0 and synced.data == ["runners.immutable"], synced.stdout + synced.stderr
    synced_file = extension_modules / "runners" / "immutable.py"
    assert filecmp.cmp(synced_file, REPO / "_runners" / "immutable.py", shallow=False)
    result = run("immutable.plan", "offline=True", env={**library, **VERBOSE})
    assert_example_plan(result)
    assert code_loaded(result.stderr, {"_runners", "runners"}) == {synced_file}


def test_without_the_library_the_synced_runner_says_what_to_install(bare_master, extension_modules):
    run = bare_master.salt_run_cli().run
    assert run("saltutil.sync_runners").data == ["runners.immutable"]
    result = run("immutable.plan", "offline=True")
    assert result.stdout.strip() == NOT_INSTALLED, result.stdout + result.stderr


def test_classic_sync_brings_the_progress_outputter(bare_master, extension_modules):
    run = bare_master.salt_run_cli().run
    show = ("salt.cmd", "test.outputter", json.dumps({"message": PROGRESS_LINE}), "--out=immutable_progress")
    synced = run("saltutil.sync_output")
    assert synced.returncode == 0 and synced.data == ["output.immutable_progress"], synced.stdout + synced.stderr
    synced_file = extension_modules / "output" / "immutable_progress.py"
    assert filecmp.cmp(synced_file, REPO / "_output" / "immutable_progress.py", shallow=False)
    shown = run(*show, env=VERBOSE)
    assert shown.stdout.strip() == PROGRESS_LINE, shown.stdout
    assert code_loaded(shown.stderr, {"output", "_output"}, "immutable_progress.py") == {synced_file}


def test_classic_sync_gives_orchestration_the_states(bare_master, extension_modules, library):
    synced = bare_master.salt_run_cli().run("saltutil.sync_states")
    assert synced.returncode == 0 and synced.data == ["states.immutable"], synced.stdout + synced.stderr
    synced_file = extension_modules / "states" / "immutable.py"
    assert filecmp.cmp(synced_file, REPO / "_states" / "immutable.py", shallow=False)
    result, returns = orchestrate_unknown_fleet(bare_master, "orch.immutable.bake", **library, **VERBOSE)
    assert_image_state_ran(returns)
    assert code_loaded(result.stderr, {"_states", "states"}) == {synced_file}


def test_classic_minions_sync_the_module_from_the_repository(bare_factories, bare_master, release_file):
    with bare_minion(bare_factories, bare_master, "bare-minion") as minion:
        salt = bare_master.salt_cli()
        synced = salt.run("saltutil.sync_modules", minion_tgt=minion.id)
        assert synced.returncode == 0 and synced.data == ["modules.immutable"], synced.stdout + synced.stderr
        release = salt.run("immutable.release", f"path={release_file}", minion_tgt=minion.id)
        assert release.data == PROVENANCE
        missing = salt.run("immutable.release", "path=/nonexistent/immutable-release", minion_tgt=minion.id)
        assert missing.returncode != 0
        assert "was not booted from a salt-immutable image" in missing.stdout

