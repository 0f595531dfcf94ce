"""``salt-immutable lab up / status / down``: a real master and the emulator, and nothing left behind."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from salt_immutable.linode import LinodeProvider
from tests.support.machines import BASE, REGION, TYPE, port_open, wait_for

BIN = Path(sys.executable).parent


def run(*args, timeout=120):
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def lab_dir(tmp_path):
    folder = tmp_path / "lab"
    yield folder
    run("salt-immutable", "lab", "down", "--dir", str(folder))


def test_lab_up_serves_the_readme_setup_and_down_leaves_nothing(lab_dir):
    started = run("salt-immutable", "lab", "up", "--dir", str(lab_dir))
    assert started.returncode == 0, started.stderr
    status = json.loads(run("salt-immutable", "lab", "status", "--dir", str(lab_dir)).stdout)
    assert status["running"] is True
    pids = [process["pid"] for process in status["processes"].values()]

    config = yaml.safe_load((lab_dir / "etc/salt/master").read_text())
    assert config["auto_accept"] is False
    assert config["immutable"]["api_url"] == status["api_url"]
    plan = run("salt-run", "-c", str(lab_dir / "etc/salt"), "immutable.plan", "--out=json")
    assert plan.returncode == 0, plan.stderr
    preview = json.loads(plan.stdout)["fleets"]["web"]
    assert preview["to"] == "1.0.0" and preview["from"] == {}
    assert preview["operations"][0].startswith("bake web-1.0.0") and preview["peak_servers"] == 3
    assert config["immutable"]["linode_token"] not in plan.stdout

    provider = LinodeProvider(config["immutable"]["linode_token"], status["api_url"], poll_interval=0.1)
    user_data = "#cloud-config\n" + json.dumps({"runcmd": ["nohup python3 -m http.server 8099 --bind "
                                                          "$(hostname -i | cut -d' ' -f1) >/dev/null 2>&1 &"]})
    machine = provider.create_instance("lab-machine", REGION, TYPE, BASE, tags=("immutable",), user_data=user_data)
    machine = provider.wait_for_status(machine.id, "running", provider.deadline(60))
    wait_for(lambda: port_open(machine.private_ip, 8099), timeout=30, what="the lab machine's service")

    stopped = run("salt-immutable", "lab", "down", "--dir", str(lab_dir))
    assert stopped.returncode == 0
    assert sorted(json.loads(stopped.stdout)["stopped"].values()) == sorted(pids)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    assert not port_open(machine.private_ip, 8099)
    assert str(lab_dir) not in Path("/proc/mounts").read_text()
    again = run("salt-immutable", "lab", "down", "--dir", str(lab_dir))
    assert again.returncode == 0 and json.loads(again.stdout)["stopped"] == {}
    assert run("salt-immutable", "lab", "status", "--dir", str(lab_dir)).returncode == 3


def test_lab_up_refuses_a_missing_state_tree(lab_dir, tmp_path):
    result = run("salt-immutable", "lab", "up", "--dir", str(lab_dir), "--state-tree", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert f"lab up: {tmp_path / 'nope'} is not a folder" in result.stderr
