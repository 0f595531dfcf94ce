"""``make demo``: the lab, a bake of the example fleet, and a server that runs the baked app.

The server is booted from the proven image with no Salt at all (no minion, no state run): what it
serves, it has from the image.
"""

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import salt.config

from salt_immutable import lab
from salt_immutable.linode import LinodeProvider

FLEET = "web"


def fetch(url, deadline):
    while not deadline.expired():
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            time.sleep(0.5)
    raise lab.LabError(f"demo: {url} did not answer")


def bake(config_dir, say):
    """Bake the example fleet with salt-run, its progress streaming to the terminal; then bake again,
    which finds the proven image and changes nothing, and gives the result as JSON."""
    salt_run = str(Path(sys.executable).parent / "salt-run")
    say(f"$ salt-run -c {config_dir} immutable.bake fleet={FLEET}")
    subprocess.run([salt_run, "-c", str(config_dir), "immutable.bake", f"fleet={FLEET}"], check=True)
    say(f"$ salt-run -c {config_dir} immutable.bake fleet={FLEET} quiet=True --out=json   # again: no change")
    again = subprocess.run([salt_run, "-c", str(config_dir), "immutable.bake", f"fleet={FLEET}", "quiet=True",
                            "--out=json"], check=True, capture_output=True, text=True)
    return json.loads(again.stdout)


def serve_from_image(provider, image_id, say):
    say(f"booting web-demo-1 from {image_id}: no minion, no state run")
    server = provider.create_instance("web-demo-1", "us-east", "g6-nanode-1", image_id, tags=("demo",))
    server = provider.wait_for_status(server.id, "running", provider.deadline(120))
    page = fetch(f"http://{server.private_ip}:8080/", provider.deadline(60))
    return server, json.loads(page)


def summary(baked, page):
    lines = ["", "== salt-immutable demo ==", f"image      {baked['image']['id']} {baked['image']['label']} "
             f"({baked['image']['size']} MB, tags {', '.join(baked['image']['tags'])})"]
    lines += [f"provenance {key}: {value}" for key, value in sorted(baked["provenance"].items())]
    lines += [f"phase      {phase}: {seconds:.1f} s" for phase, seconds in baked["timings"].items()]
    lines.append(f"server     {page['host']} serves release {page['release'].get('version')} "
                 "of the baked app, and ran no Salt")
    return "\n".join(lines)


def fresh_lab(root, say):
    """Start a lab in ``root`` with nothing from an earlier demo (its images would be reused)."""
    paths = lab.LabPaths(Path(root).resolve())
    if (paths.config_dir / "master").exists():
        lab.down(root)
        shutil.rmtree(paths.root)
    say(f"starting the lab in {root}")
    lab.up(root, time_scale=0.02)


def run(root, say=print):
    """The whole demo in ``root``; everything it starts is stopped again, also on failure."""
    fresh_lab(root, say)
    try:
        config_dir = lab.LabPaths(Path(root).resolve()).config_dir
        opts = salt.config.master_config(str(config_dir / "master"))
        baked = bake(config_dir, say)
        provider = LinodeProvider(opts["immutable"]["linode_token"], opts["immutable"]["api_url"])
        server, page = serve_from_image(provider, baked["image"]["id"], say)
        say(summary(baked, page))
        provider.delete_instance(server.id)
    finally:
        say("stopping the lab")
        lab.down(root)
    return 0
