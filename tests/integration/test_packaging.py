"""What ``pip install salt-immutable`` puts on a master: the library, the faces and the entry point."""

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from salt_immutable import cli, loader
from tests.support.saltconfig import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
    )
    (path,) = out.glob("salt_immutable-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


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
