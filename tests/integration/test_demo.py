"""``make demo`` (``salt-immutable demo``) tells the whole story to the end and leaves nothing running."""

import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.support.mounts import mounts_anywhere

BIN = Path(sys.executable).parent


@pytest.mark.slow  # about 7 minutes: `make test-slow`; test_roll.py proves each step on its own in `make test`
def test_demo_rolls_bumps_under_load_rolls_back_and_stops_everything(tmp_path):
    folder = tmp_path / "demo"
    result = subprocess.run([str(BIN / "salt-immutable"), "demo", "--dir", str(folder)],
                            capture_output=True, text=True, timeout=1200)
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-3000:]
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
