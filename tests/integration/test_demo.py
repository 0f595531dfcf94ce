"""``make demo`` (``salt-immutable demo``) runs to the end and leaves nothing running."""

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_demo_bakes_serves_from_the_image_and_stops_everything(tmp_path):
    folder = tmp_path / "demo"
    result = subprocess.run([str(BIN / "salt-immutable"), "demo", "--dir", str(folder)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "[web@1.0.0] booting builder web-1.0.0-build from linode/debian12" in out
    assert "image      private/" in out and "proven" in out
    assert "web-demo-1 serves release 1.0.0 of the baked app, and ran no Salt" in out
    assert "PRIVATE KEY" not in out + result.stderr
    for pid_file in (folder / "run").glob("*.pid"):
        raise AssertionError(f"{pid_file} left behind")
    assert str(folder) not in Path("/proc/mounts").read_text()
