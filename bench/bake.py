"""Figure 3, bake overhead: a bake's wall time minus its state runs, its capture and its boots.

Run on the real lab (a salt-master and the emulator with namespace machines, ``salt_immutable.lab``) with
the example trees: ``salt-run immutable.bake fleet=web --out=json`` is started and its progress lines (on
stderr) are time-stamped as they arrive. The bake returns seconds per phase (``timings``); the progress
lines split the ``prove`` phase, which runs no sub-timer, into the candidate's boot and its state runs.

- state runs: ``configure`` (the bake states) + ``test`` (saltcheck on the builder) + the candidate's
  boot states, verify, release and seal checks (progress "applying boot states" → "checking that ...");
- capture: the ``capture`` phase (the disk imaged until the image is available, then the builder deleted);
- boots: the candidate's ("booting candidate" → its first state run) and the builder's (``builder``).

The overhead is the wall time of the ``salt-run`` process minus those. The issue's figure subtracts the
proof's boot only; the builder's boot is a cloud boot just like it, so both are given: the issue's
definition and ours (both boots subtracted). Run by ``python -m bench.bake OUT.json`` under
``flock /tmp/si-integration.lock`` (the lab shares this machine with integration tests).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import ratios
from salt_immutable import lab

TIME_SCALE = 0.05
TARGET = 10.0
LOCK = "/tmp/si-integration.lock"
BAKE_TIMEOUT = 900
LOCK_WAIT = 3600  # how long make bench waits for the integration lock
FLEET = "web"
# Progress lines (after "[web@<version>] ") that start the intervals the prove phase is split into.
CANDIDATE_BOOT, CANDIDATE_STATES, CANDIDATE_CHECKED = "booting candidate", "applying boot states", "checking that "


def locked_command(out_file):
    """The command line that runs this figure under the integration lock."""
    return ["flock", LOCK, sys.executable, "-m", "bench.bake", str(out_file)]


def bake_in_lab(folder, time_scale=TIME_SCALE):
    """Bring the lab up in ``folder``, bake fleet ``web`` once, always bring the lab down; the raw run."""
    info = lab.up(folder, time_scale=time_scale)
    try:
        config_dir = Path(info["dir"]) / "etc" / "salt"
        return timed_salt_run([str(Path(sys.executable).parent / "salt-run"), "-c", str(config_dir),
                               "immutable.bake", f"fleet={FLEET}", "--out=json"])
    finally:
        lab.down(folder)


def timed_salt_run(argv):
    """Run ``argv``: its wall seconds, its JSON return, and its stderr lines with their arrival second."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(
        (round(time.monotonic() - started, 3), line.rstrip("\n")) for line in process.stderr))
    reader.start()
    stdout = process.stdout.read()  # not communicate(): it would read stderr too, racing the reader for lines
    process.wait(timeout=BAKE_TIMEOUT)
    reader.join()
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"salt-run immutable.bake failed ({process.returncode}): {stdout[-2000:]}")
    return {"wall_seconds": round(wall, 3), "result": json.loads(stdout), "lines": lines}


def first_at(lines, marker):
    """The arrival second of the first progress line whose message starts with ``marker``."""
    for at, line in lines:
        message = line.split("] ", 1)[-1]
        if message.startswith(marker):
            return at
    raise ValueError(f"no progress line starts with {marker!r}")


def overhead(run):
    """Figure 3 from a raw run: the parts subtracted, the overheads and the verdict."""
    timings, lines, wall = run["result"]["timings"], run["lines"], run["wall_seconds"]
    candidate_boot = first_at(lines, CANDIDATE_STATES) - first_at(lines, CANDIDATE_BOOT)
    candidate_states = first_at(lines, CANDIDATE_CHECKED) - first_at(lines, CANDIDATE_STATES)
    parts = {
        "state_runs": round(timings["configure"] + timings["test"] + candidate_states, 3),
        "capture": timings["capture"],
        "candidate_boot": round(candidate_boot, 3),
        "builder_boot": timings["builder"],
    }
    issue = wall - parts["state_runs"] - parts["capture"] - parts["candidate_boot"]
    ours = issue - parts["builder_boot"]
    prove_rest = timings["prove"] - candidate_boot - candidate_states
    return {
        "wall_seconds": wall, "timings": timings, "subtracted": parts,
        "overhead_seconds": round(issue, 3), "overhead_without_builder_boot_seconds": round(ours, 3),
        "remaining": {"seal": timings["seal"], "firewall": timings.get("firewall", 0.0),
                      "prove_after_checks": round(prove_rest, 3),
                      "outside_phases": round(wall - sum(timings.values()), 3)},
        "verdict": ratios.verdict(issue, TARGET),
        "progress": [f"{at:7.2f} {line}" for at, line in lines],
    }


def main(argv=None):
    """``python -m bench.bake OUT.json``: the figure, written to OUT.json (run it under :func:`locked_command`)."""
    out_file = Path((argv or sys.argv[1:])[0])
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as folder:
        run = bake_in_lab(Path(folder) / "lab")
    out_file.write_text(json.dumps({"time_scale": TIME_SCALE, **overhead(run)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def figure(measured):
    """Figure 3 for the report: the overhead, what was subtracted and what remains."""
    parts, remaining = measured["subtracted"], measured["remaining"]
    return {
        "title": "Bake overhead",
        "command": f"flock {LOCK} .venv/bin/python -m bench.run --only bake",
        "target": f"<= {TARGET:g} s of bake wall time beyond state runs, capture and the proof's boot",
        "value": f"{measured['overhead_seconds']} s ({measured['overhead_without_builder_boot_seconds']} s with "
                 "the builder's boot subtracted too)",
        "verdict": measured["verdict"],
        "columns": ["part", "seconds"],
        "rows": [["salt-run wall", measured["wall_seconds"]],
                 *([f"- {name.replace('_', ' ')}", seconds] for name, seconds in parts.items()),
                 *([f"of which {name.replace('_', ' ')}", seconds] for name, seconds in remaining.items())],
        "notes": [
            f"The example fleet `web` baked on the lab (real salt-master, namespace machines, time scale "
            f"{measured['time_scale']}), its `salt-run` timed from start to exit. The bake's `timings` give "
            "configure and test (state runs on the builder), capture and the builder's boot; the progress lines, "
            "time-stamped as they arrive, split the prove phase into the candidate's boot (`booting candidate` → "
            "`applying boot states`) and its state runs (→ `checking that ...`).",
            "Overhead = wall - state runs - capture - the candidate's boot (the issue's definition); the builder's "
            "boot is a cloud boot too, hence the second value. What remains is listed as `of which`: the seal "
            "(secret scan, power-off until offline), the firewall, the end of the prove phase (identity check, "
            "HTTP check, tagging, deleting the candidate) and the salt-run process outside any phase (start-up, "
            "pillar, loader).",
        ],
    }


def not_measured(reason):
    """Figure 3 when the lab run failed: the reason instead of a value."""
    return {"title": "Bake overhead", "command": f"flock {LOCK} .venv/bin/python -m bench.run --only bake",
            "target": f"<= {TARGET:g} s of bake wall time beyond state runs, capture and the proof's boot",
            "value": "not measured", "verdict": "not measured", "columns": ["reason"], "rows": [[reason]],
            "notes": ["The lab bake failed; its output is above the report in make bench's output."]}
