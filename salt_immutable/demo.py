"""``make demo``: the whole story on the lab, driven with salt-run as an operator would.

Lab up; roll the example fleet (which bakes 1.0.0 first) onto 3 servers behind a managed NodeBalancer;
bump the pillar file to 1.1.0 and roll again while a load generator requests the NodeBalancer; draw that
roll's timeline (``roll-timeline.svg`` in the demo folder); status;
history; rollback to 1.0.0; lab down. A summary ends it: versions, servers replaced, failed requests,
the time of each phase and the Linode API requests per replaced server (the emulator's counters).
"""

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from salt_immutable import lab

FLEET = "web"
SALT_RUN = str(Path(sys.executable).parent / "salt-run")


class LoadGenerator(threading.Thread):
    """GETs ``url``, a new connection each (as a browser without keep-alive), until stopped.

    Bounded: at most ``limit`` requests and ``seconds`` seconds. ``ok``, ``failed`` (time and error of
    each failure) and ``releases`` (the versions the answers named) tell what it saw.
    """

    def __init__(self, url, limit=20000, seconds=900, pause=0.02):
        super().__init__(daemon=True)
        self.url, self.limit, self.seconds, self.pause = url, limit, seconds, pause
        self.stop = threading.Event()
        self.ok, self.failed, self.releases = 0, [], set()

    def run(self):
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and self.ok + len(self.failed) < self.limit and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as answer:
                    self.releases.add(json.loads(answer.read())["release"].get("version"))
                    self.ok += 1
            except Exception as err:  # every failure counts, whatever it is
                self.failed.append(f"{time.strftime('%H:%M:%S')} {err!r}")
            time.sleep(self.pause)

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        return self


class Demo:
    """The demo's lab and the salt-run calls it makes."""

    def __init__(self, root, say):
        self.root = Path(root).resolve()
        self.paths = lab.LabPaths(self.root)
        self.pillar = self.root / "pillar"
        self.say = say

    def start(self):
        """A fresh lab whose pillar is a copy this demo may bump (the repository's stays as it is)."""
        if (self.paths.config_dir / "master").exists():
            lab.down(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        shutil.copytree(lab.EXAMPLE_TREES / "pillar", self.pillar)
        self.say(f"starting the lab in {self.root}")
        info = lab.up(self.root, pillar_tree=self.pillar, time_scale=0.02)
        self.control_url = info["api_url"].removesuffix("/v4") + "/_emulator"

    def salt_run(self, *args, quiet=False):
        """``salt-run immutable.<verb>``: progress streams to the terminal, or the JSON return comes back."""
        argv = [SALT_RUN, "-c", str(self.paths.config_dir), *args, "--out=json"]
        if not quiet:
            self.say("$ salt-run " + " ".join(args))
            sys.stdout.flush()
            # With --out=json the progress lines go to stderr: shown here as they come; the summary tells the rest.
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=sys.stdout)
            return None
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        return json.loads(done.stdout)

    def set_version(self, version):
        path = self.pillar / "immutable.sls"
        data = yaml.safe_load(path.read_text())
        data["immutable"]["fleets"][FLEET]["version"] = version
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.say(f"$ sed -i 's/version: .*/version: \"{version}\"/' pillar/immutable.sls   # bump to {version}")

    def api_requests(self):
        with urllib.request.urlopen(self.control_url + "/stats", timeout=10) as answer:
            return json.loads(answer.read())["total"]

    def front_url(self):
        web = self.salt_run("immutable.status", f"fleet={FLEET}", quiet=True)["fleets"][FLEET]
        return f"http://{web['nodebalancer']['address']}/"


def run(root, say=print):
    """The whole demo in ``root``; everything it starts is stopped again, also on failure."""
    demo = Demo(root, say)
    demo.start()
    try:
        demo.salt_run("immutable.roll", f"fleet={FLEET}")
        demo.set_version("1.1.0")
        before = demo.api_requests()
        load = LoadGenerator(demo.front_url())
        load.start()
        try:
            demo.salt_run("immutable.roll", f"fleet={FLEET}")
        finally:
            load.finish()
        requests = demo.api_requests() - before
        say(f"load: {load.ok + len(load.failed)} requests through the NodeBalancer during the roll, "
            f"{len(load.failed)} failed; answers came from releases {', '.join(sorted(load.releases))}")
        picture = demo.root / "roll-timeline.svg"
        demo.salt_run("immutable.history", f"fleet={FLEET}", f"picture={picture}", quiet=True)
        say(f"the roll's timeline, one lane per server: {picture}")
        status = demo.salt_run("immutable.status", f"fleet={FLEET}", quiet=True)["fleets"][FLEET]
        say(status_lines(status))
        demo.salt_run("immutable.rollback", f"fleet={FLEET}")
        rolls = demo.salt_run("immutable.history", f"fleet={FLEET}", quiet=True)["rolls"]
        say(history_lines(rolls))
        final = demo.salt_run("immutable.status", f"fleet={FLEET}", quiet=True)["fleets"][FLEET]
        say(summary(rolls, load, requests, final))
    finally:
        say("stopping the lab")
        lab.down(root)
    return 0 if not load.failed else 1


def status_lines(status):
    lines = ["$ salt-run immutable.status fleet=web",
             f"  desired {status['desired_version']}, running {status['running_versions']}, "
             f"NodeBalancer {status['nodebalancer']['label']} at {status['nodebalancer']['address']}"]
    for server in status["servers"]:
        node = server["node"] or {}
        lines.append(f"  {server['label']:<10} {server['version']:<6} gen {server['generation']:<3} "
                     f"{server['state']:<10} node {node.get('mode')}/{node.get('status')}  "
                     f"age {server['age_seconds']} s")
    for image in status["images"]:
        marks = [mark for mark in ("proven", "running", "rollback_target") if image[mark]]
        lines.append(f"  image {image['label']:<10} {image['id']:<10} {', '.join(marks)}")
    return "\n".join(lines)


def history_lines(rolls):
    lines = ["$ salt-run immutable.history fleet=web"]
    for roll in rolls:
        since = ", ".join(roll["from_versions"]) or "nothing"
        lines.append(f"  {roll['roll_id']} {roll['verb']:<8} {since} → {roll['to_version']:<6} "
                     f"{roll['outcome']:<10} {roll['started']} by {roll['user']}: "
                     f"+{len(roll['created'])} -{len(roll['destroyed'])}")
    return "\n".join(lines)


def summary(rolls, load, requests, final):
    first, bump, back = rolls[-3:]
    replaced = len(bump["destroyed"])

    def phases(roll):
        return ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in roll["timings"].items())

    return "\n".join([
        "",
        "== salt-immutable demo ==",
        f"roll 1     nothing → {first['to_version']}: {len(first['created'])} servers ({phases(first)})",
        f"roll 2     {', '.join(bump['from_versions'])} → {bump['to_version']}: {replaced} servers replaced "
        f"({phases(bump)})",
        f"rollback   {', '.join(back['from_versions'])} → {back['to_version']}: {len(back['destroyed'])} servers "
        f"replaced ({phases(back)})",
        f"load       {load.ok + len(load.failed)} requests through the NodeBalancer during roll 2, "
        f"{len(load.failed)} failed",
        f"API        {requests} Linode API requests during roll 2: {requests / max(1, replaced):.0f} per replaced "
        "server",
        f"now        {FLEET} runs {final['running_versions']} behind NodeBalancer "
        f"{final['nodebalancer']['label']} at {final['nodebalancer']['address']}",
    ])
