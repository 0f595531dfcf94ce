"""A lab (real salt-master + emulator with namespace machines) driven as a user drives it: salt-run."""

import json
import subprocess
import sys
from pathlib import Path

import requests
import salt.config

from salt_immutable.linode import LinodeProvider

BIN = Path(sys.executable).parent
QUIET_VERBS = ("bake", "roll", "rollback", "drift", "prune", "retire")


class LabHandle:
    def __init__(self, folder, info):
        self.folder = folder
        self.config_dir = folder / "etc" / "salt"
        self.api_url = info["api_url"]
        self.opts = salt.config.master_config(str(self.config_dir / "master"))
        self.provider = LinodeProvider(self.opts["immutable"]["linode_token"], self.api_url, poll_interval=0.1)

    def salt_run(self, *args):
        return subprocess.run(
            [str(BIN / "salt-run"), "-c", str(self.config_dir), *args, "--out=json"],
            capture_output=True, text=True, timeout=600,
        )

    def verb(self, verb, *args):
        """``salt-run immutable.<verb> *args quiet=True --out=json``: the process and its parsed return."""
        result = self.salt_run(f"immutable.{verb}", *args, *(("quiet=True",) if verb in QUIET_VERBS else ()))
        return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)

    def bake(self, fleet, *args):
        return self.verb("bake", f"fleet={fleet}", *args)

    def start_verb(self, verb, *args):
        """``salt-run immutable.<verb>`` in the background, progress lines to stdout (a Popen)."""
        return subprocess.Popen(
            [str(BIN / "salt-run"), "-c", str(self.config_dir), f"immutable.{verb}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def mutating_requests(self):
        return [entry for entry in self.control("GET", "requests")["requests"] if entry["method"] != "GET"]

    def control(self, method, path, **body):
        url = self.api_url.removesuffix("/v4") + "/_emulator/" + path
        return requests.request(method, url, json=body or None, timeout=10).json()

    def accepted_keys(self):
        listing = subprocess.run(
            [str(BIN / "salt-key"), "-c", str(self.config_dir), "-L", "--out=json"],
            capture_output=True, text=True, timeout=60,
        )
        return json.loads(listing.stdout)["minions"]

    def image_archive(self, image_id):
        return self.folder / "emulator" / "images" / f"{image_id.rpartition('/')[2]}.tar"
