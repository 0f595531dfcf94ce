"""``salt-immutable demo``, run from a pip install of the wheel, tells the whole story to the end and leaves nothing
running."""

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from tests.support.install import built_wheel
from tests.support.mounts import mounts_anywhere


@pytest.mark.slow  # about 7 minutes: `make test-slow`; test_roll.py proves each step on its own in `make test`
def test_demo_rolls_bumps_under_load_rolls_back_and_stops_everything(tmp_path, tmp_path_factory):
    # Run as a user who did `pip install salt-immutable`: the wheel's files first on the path, from a folder
    # that is not the checkout, so the example trees come from the package.
    installed = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(installed),
           str(built_wheel(tmp_path_factory))]
    subprocess.run(pip, check=True)
    folder = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "salt_immutable.cli", "demo", "--dir", str(folder)],
                            capture_output=True, text=True, timeout=1200, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(installed)})
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-3000:]
    trees = yaml.safe_load((folder / "etc/salt/master").read_text())["file_roots"]["base"]
    assert Path(trees[0]).is_relative_to(installed), "the example states came from the installed package"
    assert "[web@1.0.0] booting builder web-1.0.0-build from linode/debian12" in out
    assert "[web→1.0.0] batch 1: create web-g1-1" in out
    assert "[web→1.1.0] web-g2-1: in service" in out and "[web→1.0.0] web-g3-3: in service" in out
    load = re.search(r"^load: (\d+) requests through the NodeBalancer during the roll, (\d+) failed", out, re.M)
    assert load and int(load.group(1)) > 50 and load.group(2) == "0"
    summary = out[out.index("== salt-immutable demo =="):]
    assert "roll 1     nothing → 1.0.0: 3 servers" in summary
    assert "roll 2     1.0.0 → 1.1.0: 3 servers replaced" in summary
    assert "rollback   1.1.0 → 1.0.0: 3 servers replaced" in summary
    assert re.search(r"^API        \d+ Linode API requests during roll 2: \d+ per replaced server$", summary, re.M)
    assert "now        web runs {'1.0.0': 3} behind NodeBalancer web-lb at 127." in summary
    assert "PRIVATE KEY" not in out + result.stderr
    for pid_file in (folder / "run").glob("*.pid"):
        raise AssertionError(f"{pid_file} left behind")
    assert mounts_anywhere(folder) == {}, "still mounted in some namespace"
    assert "the roll's timeline, one lane per server: " in out
    picture = ElementTree.parse(folder / "roll-timeline.svg").getroot()
    lanes = sorted(element.get("data-server") for element in picture.iter() if element.get("data-server"))
    assert lanes == ["web-g1-1", "web-g1-2", "web-g1-3", "web-g2-1", "web-g2-2", "web-g2-3"]
