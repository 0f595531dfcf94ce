"""``salt-immutable lab up / status / down``: a real master and the emulator, and nothing left behind."""

import json
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from salt_immutable.linode import LinodeProvider
from tests.support.machines import BASE, REGION, TYPE, port_open, wait_for
from tests.support.mounts import mounts_anywhere
from tests.support.saltconfig import REPO

BIN = Path(sys.executable).parent


def run(*args, timeout=120):
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def lab_dir(tmp_path):
    folder = tmp_path / "lab"
    yield folder
    run("salt-immutable", "lab", "down", "--dir", str(folder))


def own_trees(folder):
    """Copies of the example trees, the web fleet at a version no default tree has."""
    states, pillar = folder / "my-salt", folder / "my-pillar"
    shutil.copytree(REPO / "salt", states)
    shutil.copytree(REPO / "pillar", pillar)
    spec = yaml.safe_load((pillar / "immutable.sls").read_text())
    spec["immutable"]["fleets"]["web"]["version"] = "7.7.7"
    (pillar / "immutable.sls").write_text(yaml.safe_dump(spec))
    return states, pillar


def test_lab_up_serves_the_readme_setup_and_down_leaves_nothing(lab_dir, tmp_path):
    states, pillar = own_trees(tmp_path)
    started = run("salt-immutable", "lab", "up", "--dir", str(lab_dir), "--state-tree", str(states),
                  "--pillar-tree", str(pillar))
    assert started.returncode == 0, started.stderr
    status = json.loads(run("salt-immutable", "lab", "status", "--dir", str(lab_dir)).stdout)
    assert status["running"] is True
    pids = [process["pid"] for process in status["processes"].values()]

    config_file = lab_dir / "etc/salt/master"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600, "the master config holds the token"
    config = yaml.safe_load(config_file.read_text())
    assert config["auto_accept"] is False
    file_root = run("salt-immutable", "file-root").stdout.strip()
    assert config["file_roots"] == {"base": [str(states), file_root]}
    assert config["pillar_roots"] == {"base": [str(pillar)]}
    token = config["immutable"]["linode_token"]
    assert len(token) == 48 and int(token, 16), "a generated token"
    assert "extension_modules" not in config and not (lab_dir / "var/cache/salt/master/extmods/runners").exists()
    short_root = Path(config["root_dir"])
    assert_private_short_link(short_root, lab_dir)
    emulator_argv = Path(f"/proc/{status['processes']['emulator']['pid']}/cmdline").read_text().split("\0")
    assert emulator_argv[emulator_argv.index("--hide") + 1] == str(lab_dir)
    assert config["immutable"]["api_url"] == status["api_url"]
    plan = run("salt-run", "-c", str(lab_dir / "etc/salt"), "immutable.plan", "--out=json")
    assert plan.returncode == 0, plan.stderr
    preview = json.loads(plan.stdout)["fleets"]["web"]
    assert preview["to"] == "7.7.7" and preview["from"] == {}, "the plan reads the --pillar-tree"
    assert preview["operations"][0].startswith("bake web-7.7.7") and preview["peak_servers"] == 3
    served = run("salt-run", "-c", str(lab_dir / "etc/salt"), "fileserver.file_list", "--out=json")
    assert "examples/webapp/init.sls" in json.loads(served.stdout) and "_modules/immutable.py" in served.stdout
    assert config["immutable"]["linode_token"] not in plan.stdout

    provider = LinodeProvider(config["immutable"]["linode_token"], status["api_url"], poll_interval=0.1)
    master_config = lab_dir / "etc/salt/master"
    user_data = "#cloud-config\n" + json.dumps({"runcmd": [
        f"cat {master_config} /proc/1/root{master_config} > /root/seen 2>&1",
        "nohup python3 -m http.server 8099 --bind $(hostname -i | cut -d' ' -f1) >/dev/null 2>&1 &",
    ]})
    machine = provider.create_instance("lab-machine", REGION, TYPE, BASE, tags=("immutable",), user_data=user_data)
    machine = provider.wait_for_status(machine.id, "running", provider.deadline(60))
    wait_for(lambda: port_open(machine.private_ip, 8099), timeout=30, what="the lab machine's service")
    console = lab_dir / "emulator/machines" / str(machine.id) / "console.log"
    assert console.read_text().strip(), "the machine's console log"
    assert (lab_dir / "log/master.log").stat().st_size > 0
    emulator_log = (lab_dir / "log/emulator.log").read_text().splitlines()
    assert emulator_log[:2] == [f"linode_emu listening on {status['api_url'].removesuffix('/v4')}",
                                "linode_emu machines: namespace"]
    seen = lab_dir / "emulator/disks" / str(provider.root_disk(machine.id).id) / "upper/root/seen"
    assert "No such file or directory" in seen.read_text()
    assert config["immutable"]["linode_token"] not in seen.read_text()

    assert mounts_anywhere(lab_dir), "the machine's root is mounted in its namespace while it runs"

    stopped = run("salt-immutable", "lab", "down", "--dir", str(lab_dir))
    assert stopped.returncode == 0
    assert sorted(json.loads(stopped.stdout)["stopped"].values()) == sorted(pids)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    assert not port_open(machine.private_ip, 8099)
    assert mounts_anywhere(lab_dir) == {}, "still mounted in some namespace"
    assert not short_root.parent.exists()
    again = run("salt-immutable", "lab", "down", "--dir", str(lab_dir))
    assert again.returncode == 0 and json.loads(again.stdout)["stopped"] == {}
    assert run("salt-immutable", "lab", "status", "--dir", str(lab_dir)).returncode == 3


def assert_private_short_link(short_root, lab_dir):
    """The master's root_dir: a short link to the lab folder, alone in a private folder of the temporary
    directory, short enough for Salt's Unix sockets."""
    assert short_root.resolve() == lab_dir.resolve()
    assert short_root.parent.name.startswith("salt-immutable-lab-")
    assert Path(tempfile.gettempdir()) == short_root.parent.parent
    assert stat.S_IMODE(short_root.parent.stat().st_mode) == 0o700
    assert [path.name for path in short_root.parent.iterdir()] == [short_root.name]
    sockets = list((short_root / "var/run/salt/master").glob("*.ipc"))
    assert sockets and all(len(str(socket)) < 107 for socket in sockets)


def test_lab_up_refuses_a_missing_state_tree(lab_dir, tmp_path):
    result = run("salt-immutable", "lab", "up", "--dir", str(lab_dir), "--state-tree", str(tmp_path / "nope"))
    assert result.returncode == 1
    expected = f"lab up: the state tree {tmp_path / 'nope'} is not a folder (give yours with --state-tree DIR)"
    assert expected in result.stderr
