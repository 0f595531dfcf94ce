"""``python -m linode_emu`` as a process: prints its URL, serves, stops on SIGTERM having saved everything;
killed, it leaves a whole state file short of at most its last save interval."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from linode_emu import delays
from linode_emu.server import UnsafeListenError, check_listen_host

PYTHON = sys.executable
# Real seconds a save may take beyond its interval on a busy test machine.
SAVE_MARGIN = 2.0


def start(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "linode_emu", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    process.stdout.close()
    process.stderr.close()


def serve(state_dir, *args: str):
    """Start the emulator on ``state_dir`` (more options in ``args``); its URL once it listens."""
    process = start(
        "--state-dir", str(state_dir), "--token", "cli-token", "--time-scale", "0.01", "--no-rate-limits", *args
    )
    line = process.stdout.readline().strip()
    assert line.startswith("linode_emu listening on http://127.0.0.1:"), line + process.stderr.read()
    return process, line.removeprefix("linode_emu listening on ")


def test_serves_until_sigterm_and_keeps_its_state_in_the_state_dir(tmp_path):
    auth = {"Authorization": "Bearer cli-token"}
    process, url = serve(tmp_path)
    try:
        assert requests.get(url + "/v4/regions", timeout=10).status_code == 401
        response = requests.get(url + "/v4/regions", headers=auth, timeout=10)
        assert (response.status_code, response.json()["results"]) == (200, 4)
        assert "X-RateLimit-Limit" not in response.headers
        assert requests.post(url + "/v4/tags", json={"label": "kept"}, headers=auth, timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        stop(process)
    assert json.loads((tmp_path / "state.json").read_text())["tags"] == ["kept"]

    process, url = serve(tmp_path)
    try:
        tags = requests.get(url + "/v4/tags", headers=auth, timeout=10).json()["data"]
        assert [tag["label"] for tag in tags] == ["kept"]
    finally:
        stop(process)


def test_unknown_machines_driver_is_refused(tmp_path):
    result = subprocess.run(
        [PYTHON, "-m", "linode_emu", "--state-dir", str(tmp_path), "--machines", "vmware"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--machines" in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.com"])
def test_a_host_that_is_not_loopback_is_refused(tmp_path, host):
    result = subprocess.run(
        [PYTHON, "-m", "linode_emu", "--host", host, "--state-dir", str(tmp_path), "--machines", "none"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"linode_emu: refusing to listen on {host!r}: not a loopback address" in result.stderr
    assert "--allow-remote" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host):
    check_listen_host(host, allow_remote=False)


def test_allow_remote_lifts_the_refusal():
    check_listen_host("0.0.0.0", allow_remote=True)
    with pytest.raises(UnsafeListenError, match=re.escape("refusing to listen on '0.0.0.0'")):
        check_listen_host("0.0.0.0", allow_remote=False)


def without_token_variables():
    return {name: value for name, value in os.environ.items() if name != "LINODE_EMU_TOKEN"}


def test_machines_without_a_token_get_a_random_one_printed_once(tmp_path):
    process = start("--state-dir", str(tmp_path), "--machines", "namespace", env=without_token_variables())
    try:
        token_line = process.stderr.readline().strip()
        assert token_line.startswith("linode_emu token: "), token_line
        token = token_line.removeprefix("linode_emu token: ")
        assert len(token) >= 32
        url = process.stdout.readline().strip().removeprefix("linode_emu listening on ")
        assert requests.get(url + "/v4/regions", timeout=10).status_code == 401
        authorized = requests.get(url + "/v4/regions", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert authorized.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "linode_emu token" not in process.stderr.read()
    finally:
        stop(process)


def test_a_given_token_is_not_printed(tmp_path):
    process = start("--state-dir", str(tmp_path), "--machines", "namespace", "--token", "given-token")
    try:
        assert process.stdout.readline().startswith("linode_emu listening on ")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "given-token" not in process.stderr.read()
    finally:
        stop(process)


def test_help_tells_how_the_token_and_hidden_paths_work():
    text = subprocess.run([PYTHON, "-m", "linode_emu", "--help"], capture_output=True, text=True, timeout=30).stdout
    flat = " ".join(text.split())
    assert "with namespace machines, a random one printed once on stderr as 'linode_emu token: ...'" in flat
    assert "--hide PATH" in flat and "--allow-remote" in flat


def create_linodes(url: str, count: int, prefix: str) -> None:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer cli-token"
    body = {"region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "root_pass": "Cli-pass-123!"}
    for n in range(count):
        response = session.post(url + "/v4/linode/instances", json={**body, "label": f"{prefix}-{n}"}, timeout=10)
        response.raise_for_status()
    session.close()


def saved_labels(state_dir) -> list[str]:
    return [instance["label"] for instance in json.loads((state_dir / "state.json").read_text())["instances"]]


def test_sigterm_right_after_a_burst_saves_every_change(tmp_path):
    process, url = serve(tmp_path, "--machines", "none")
    try:
        create_linodes(url, 30, "term")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        stop(process)
    assert saved_labels(tmp_path) == [f"term-{n}" for n in range(30)]


def test_sigkill_loses_at_most_the_last_save_interval_and_leaves_whole_json(tmp_path):
    process, url = serve(tmp_path, "--machines", "none")
    try:
        create_linodes(url, 30, "kill")
        time.sleep(delays.real("state_save") + SAVE_MARGIN)
        create_linodes(url, 5, "late")  # killed before or while these are saved
        process.kill()
        process.wait()
    finally:
        stop(process)
    labels = saved_labels(tmp_path)
    assert labels[:30] == [f"kill-{n}" for n in range(30)]
    assert labels[30:] == [f"late-{n}" for n in range(len(labels) - 30)]
    restarted, _ = serve(tmp_path, "--machines", "none")
    try:
        assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]
    finally:
        stop(restarted)
