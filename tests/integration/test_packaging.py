"""What ``pip install salt-immutable`` puts on a master: the library, the faces and the entry point."""

import configparser
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from salt_immutable import cli, loader
from tests.support.install import built_wheel
from tests.support.saltconfig import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    path = built_wheel(tmp_path_factory)
    with zipfile.ZipFile(path) as archive:
        archive.path = path
        yield archive


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel installed as pip installs it (real files, no link to this repository), first on the path."""
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel.path)]
    subprocess.run(pip, check=True)
    return target


def run_installed(installed, *argv, cwd):
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(installed)})


def test_the_installed_package_brings_its_example_trees_and_the_lab_runs_from_them(installed, tmp_path):
    where = run_installed(installed, "-c", "from salt_immutable import lab; print(lab.EXAMPLE_TREES)", cwd=tmp_path)
    trees = Path(where.stdout.strip())
    assert trees.is_relative_to(installed) and not trees.is_symlink(), where.stdout + where.stderr
    for tree in ("salt", "pillar"):
        for path in (REPO / tree).rglob("*"):
            if path.is_file():
                relative = path.relative_to(REPO / tree)
                assert (trees / tree / relative).read_bytes() == path.read_bytes(), relative
    up = run_installed(installed, "-m", "salt_immutable.cli", "lab", "up", "--dir", "lab", "--machines", "none",
                       cwd=tmp_path)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        plan = subprocess.run([str(Path(sys.executable).parent / "salt-run"), "-c", str(tmp_path / "lab/etc/salt"),
                               "immutable.plan", "offline=True", "--out=json"], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(installed)})
        assert json.loads(plan.stdout)["fleets"]["web"]["count"] == 3, plan.stdout + plan.stderr
    finally:
        down = run_installed(installed, "-m", "salt_immutable.cli", "lab", "down", "--dir", "lab", cwd=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr


def test_a_missing_tree_names_the_flag_that_sets_it(tmp_path, capsys):
    assert cli.main(["lab", "up", "--dir", str(tmp_path / "lab"), "--pillar-tree", str(tmp_path / "none")]) == 1
    error = capsys.readouterr().err
    assert f"the pillar tree {tmp_path / 'none'} is not a folder (give yours with --pillar-tree DIR)" in error


def test_wheel_carries_the_faces_as_real_files(wheel):
    faces = ("_runners/immutable.py", "_states/immutable.py", "_modules/immutable.py", "_output/immutable_progress.py")
    for face in faces:
        shipped = wheel.read(f"salt_immutable/faces/{face}")
        assert shipped == (REPO / face).read_bytes(), face


def test_wheel_carries_the_orchestration_files_and_reactor_recipes(wheel):
    for sls in ("orch/immutable/bake.sls", "orch/immutable/roll.sls", "orch/immutable/multi_fleet.sls",
                "orch/immutable/pillar_push.sls", "reactor/immutable/notify.sls", "reactor/immutable/approve.sls",
                "reactor/immutable/pillar_push.sls"):
        assert wheel.read(f"salt_immutable/faces/{sls}") == (REPO / "salt" / sls).read_bytes(), sls


def test_wheel_registers_the_salt_loader_entry_point(wheel):
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(name).decode())
    assert entry_points["salt.loader"]["salt-immutable"] == "salt_immutable.loader:extension_dirs"
    assert entry_points["console_scripts"]["salt-immutable"] == "salt_immutable.cli:main"


def test_wheel_ships_the_emulator(wheel):
    assert "linode_emu/__main__.py" in wheel.namelist()


def test_entry_point_names_existing_runner_folder():
    dirs = loader.extension_dirs()
    assert set(dirs) == {"runners", "states", "output"}
    for kind, folder in (("runners", "_runners"), ("states", "_states")):
        (path,) = dirs[kind]
        assert (Path(path) / "immutable.py").read_bytes() == (REPO / folder / "immutable.py").read_bytes()


def test_file_root_command_prints_the_folder_minions_sync_from(capsys):
    assert cli.main(["file-root"]) == 0
    root = capsys.readouterr().out.strip()
    assert root == str(loader.FACES)
    assert (loader.FACES / "_modules" / "immutable.py").read_bytes() == (REPO / "_modules/immutable.py").read_bytes()
