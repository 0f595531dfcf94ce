"""``python -m linode_emu`` as a process: prints its URL, serves, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests

PYTHON = sys.executable


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "linode_emu", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_until_sigterm(tmp_path):
    process = start(
        "--state-dir", str(tmp_path), "--token", "cli-token", "--time-scale", "0.01", "--no-rate-limits"
    )
    try:
        line = process.stdout.readline().strip()
        prefix = "linode_emu listening on http://127.0.0.1:"
        assert line.startswith(prefix), line + process.stderr.read()
        url = line.removeprefix("linode_emu listening on ")
        assert requests.get(url + "/v4/regions", timeout=10).status_code == 401
        response = requests.get(
            url + "/v4/regions", headers={"Authorization": "Bearer cli-token"}, timeout=10
        )
        assert (response.status_code, response.json()["results"]) == (200, 3)
        assert "X-RateLimit-Limit" not in response.headers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert (tmp_path / "state.json").exists() or list(tmp_path.iterdir()) == []


def test_unknown_machines_driver_is_refused(tmp_path):
    result = subprocess.run(
        [PYTHON, "-m", "linode_emu", "--state-dir", str(tmp_path), "--machines", "vmware"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--machines" in result.stderr
