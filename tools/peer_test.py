#!/usr/bin/env python3
"""Run linode_api4's own integration tests against the emulator: ``make peer-test``.

Usage (from the repo root)::

    .venv/bin/python tools/peer_test.py [PYTEST_ARGS...]

1. Downloads the source distribution of the ``linode_api4`` installed in the venv (their tests ship only
   there) into ``.peer-test/`` (git-ignored, kept as a cache) and unpacks a fresh copy of it.
2. Applies the few run-time fixes of :func:`patch_harness` to that copy (each says why).
3. Starts ``python -m linode_emu --machines none`` on a free loopback port with a state dir of its own.
4. Runs the integration modules of :data:`SELECTED` against it, less the tests named in
   ``tools/peer_test_deselect.txt`` (endpoints the project does not use, each with its reason).
5. Prints ``peer-test: X passed of Y selected, Z deselected`` and exits non-zero if any test failed.

The emulator runs at :data:`TIME_SCALE`; their sleeps are scaled by the same factor, so that every wait
of theirs keeps its ratio to the emulated Linode's time (a reboot of 12 Linode seconds is still seen
while polled every 3 Linode seconds), and the SDK's 15-second status cache is off. The emulator is stopped by its
pid when the run ends, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".peer-test"
DESELECT_FILE = Path(__file__).with_name("peer_test_deselect.txt")
PYTHON = sys.executable
TIME_SCALE = 0.01
TOKEN = "peer-test-token"
LISTENING = re.compile(r"linode_emu listening on (http://\S+)")
EMULATOR_START_SECONDS = 30.0
EMULATOR_STOP_SECONDS = 10.0

# Their integration modules for what the project uses: instances, images, volumes, NodeBalancers,
# firewalls, tags, regions, and how errors come back.
SELECTED = [
    "test/integration/models/linode/test_linode.py",
    "test/integration/models/image/test_image.py",
    "test/integration/models/volume/test_volume.py",
    "test/integration/models/volume/test_blockstorage.py",
    "test/integration/models/nodebalancer/test_nodebalancer.py",
    "test/integration/models/networking/test_networking.py",
    "test/integration/models/firewall/test_firewall.py",
    "test/integration/models/tag/test_tag.py",
    "test/integration/models/region/test_region.py",
    "test/integration/linode_client/test_errors.py",
]

# Appended to their conftest (see patch_harness).
CONFTEST_APPENDIX = f'''

# ---- added by salt-immutable's tools/peer_test.py (run-time fixes, see its patch_harness) ----
# The emulator runs at --time-scale {TIME_SCALE}: their sleeps and polling intervals, written for the real
# Linode, are scaled by the same factor so that each keeps its ratio to the emulated Linode's time.
import time as _peer_time
from datetime import timedelta as _peer_timedelta

import linode_api4.objects.base as _peer_base

_peer_real_sleep = _peer_time.sleep
_peer_time.sleep = lambda seconds: _peer_real_sleep(seconds * {TIME_SCALE})
# The SDK caches volatile fields (status) for 15 seconds, longer than some emulated jobs last (a reboot
# is 12 Linode seconds): their polls would never see ``rebooting``. Read them fresh every time.
_peer_base.volatile_refresh_timeout = _peer_timedelta(0)
'''


def installed_version() -> str:
    """The ``linode_api4`` version the project pins (the one in this venv)."""
    return importlib.metadata.version("linode_api4")


def fetch_sdist(version: str) -> Path:
    """The cached sdist of ``linode_api4==version``, downloaded with pip the first time."""
    dist_dir = CACHE / "dist"
    found = sorted(dist_dir.glob(f"linode_api4-{version}.tar.gz"))
    if found:
        return found[0]
    dist_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [PYTHON, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-binary", ":all:",
         "--no-deps", f"linode_api4=={version}", "-d", str(dist_dir)],
        check=True,
    )
    return dist_dir / f"linode_api4-{version}.tar.gz"


def unpack(sdist: Path, version: str) -> Path:
    """A fresh copy of the sdist under ``.peer-test/src`` (fixes are re-applied on every run)."""
    target = CACHE / "src"
    shutil.rmtree(target, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    return target / f"linode_api4-{version}"


def patch_harness(source: Path) -> None:
    """The run-time fixes to their test harness, none of which changes what a test checks:

    - time: their sleeps are scaled as the emulator's time and the SDK's status cache is off
      (CONFTEST_APPENDIX); the emulator runs without rate limits (see start_emulator);
    - the NodeBalancer module passes ``e2e_test_firewall.id`` although their conftest yields None for the
      e2e Firewall under their own ``SKIP_E2E_FIREWALL`` switch (which we set: that Firewall needs the
      runner's public IP from ipify.org, a call to the internet): ``getattr(..., "id", None)``.
    """
    conftest = source / "test/integration/conftest.py"
    conftest.write_text(conftest.read_text() + CONFTEST_APPENDIX)
    _replace(
        source / "test/integration/models/nodebalancer/test_nodebalancer.py",
        "e2e_test_firewall.id",
        'getattr(e2e_test_firewall, "id", None)',
    )


def _replace(path: Path, old: str, new: str) -> None:
    """Replace every ``old`` in ``path``; fails loudly when a new release no longer has it."""
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"peer-test: cannot patch {path}: {old!r} is gone (a new linode_api4 release?)")
    path.write_text(text.replace(old, new))


def start_emulator(state_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start the emulator on a free loopback port; returns the process and its base URL."""
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            # No rate limits: compressed in time, their suite creates more than 20 Linodes in 15 seconds.
            [PYTHON, "-m", "linode_emu", "--machines", "none", "--state-dir", str(state_dir), "--port", "0",
             "--time-scale", str(TIME_SCALE), "--token", TOKEN, "--no-rate-limits"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    line = _first_line(process)
    found = LISTENING.search(line)
    if found is None:
        stop_emulator(process)
        raise SystemExit(f"peer-test: the emulator did not start ({line.strip()!r}); see {log_path}")
    return process, found.group(1)


def _first_line(process: subprocess.Popen) -> str:
    """The emulator's first line on stdout (its ``listening on`` line), or '' when it died or hung."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(EMULATOR_START_SECONDS)
    return result[0] if result else ""


def stop_emulator(process: subprocess.Popen) -> None:
    """Stop the emulator by its pid (SIGTERM, then SIGKILL if it does not stop in time)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(EMULATOR_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_deselected(path: Path) -> list[str]:
    """The node ids of ``nodeid  # reason`` lines (blank lines and ``#`` comments are skipped)."""
    node_ids = []
    for line in path.read_text().splitlines():
        node_id = line.split("#", 1)[0].strip()
        if node_id:
            node_ids.append(node_id)
    return node_ids


def run_suite(source: Path, base_url: str, deselected: list[str], junit: Path, extra: list[str]) -> None:
    """Run the selected modules from the sdist root (their imports are ``test.integration...``)."""
    env = {
        **_clean_environment(),
        "LINODE_API_URL": base_url + "/v4beta",
        "LINODE_TOKEN": TOKEN,
        "SKIP_E2E_FIREWALL": "1",
        # Only what their tests need: no plugin of this venv (saltfactories, ...) joins in.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    command = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", f"--junitxml={junit}", *SELECTED]
    command += [f"--deselect={node_id}" for node_id in deselected]
    subprocess.run(command + extra, cwd=source, env=env, check=False)


def _clean_environment() -> dict:
    """This environment without variables that would point their tests elsewhere."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LINODE_", "PYTEST_")) and name != "SKIP_E2E_FIREWALL"
    }


def count_outcomes(junit: Path) -> dict:
    """``{"tests", "passed", "failed", "errors", "skipped"}`` from pytest's JUnit XML report."""
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {name: int(suite.get(name, 0)) for name in ("tests", "failures", "errors", "skipped")}
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"tests": counts["tests"], "passed": passed, "failed": counts["failures"],
            "errors": counts["errors"], "skipped": counts["skipped"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Other arguments go to pytest (e.g. -k boot -x)."
    )
    _, pytest_args = parser.parse_known_args(argv)
    version = installed_version()
    source = unpack(fetch_sdist(version), version)
    patch_harness(source)
    deselected = read_deselected(DESELECT_FILE)
    with tempfile.TemporaryDirectory(prefix="peer-test-") as work:
        work_dir = Path(work)
        (work_dir / "state").mkdir()
        process, base_url = start_emulator(work_dir / "state", CACHE / "emulator.log")
        try:
            run_suite(source, base_url, deselected, work_dir / "junit.xml", pytest_args)
        finally:
            stop_emulator(process)
        outcome = count_outcomes(work_dir / "junit.xml")
    print(
        f"peer-test: linode_api4 {version}: {outcome['passed']} passed of {outcome['tests']} selected, "
        f"{len(deselected)} deselected ({outcome['failed']} failed, {outcome['errors']} errors, "
        f"{outcome['skipped']} skipped)"
    )
    return 0 if outcome["failed"] == 0 and outcome["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
