"""A lab (real salt-master + emulator with namespace machines) driven as a user drives it: salt-run."""

import http.server
import json
import subprocess
import sys
import threading
import time
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

    def orch(self, sls, pillar=None, *args):
        """``salt-run state.orch <sls> --out=json``: the process and the states' returns by id, in run order."""
        pillar_arg = (f"pillar={json.dumps(pillar)}",) if pillar else ()
        result = self.salt_run("state.orch", sls, *pillar_arg, *args)
        document = json.loads(result.stdout)  # one document: progress lines went to stderr
        (returns,) = document["data"].values()
        if not isinstance(returns, dict):
            raise AssertionError(f"state.orch {sls} did not run its states: {returns}")
        ordered = sorted(returns.values(), key=lambda state: state["__run_num__"])
        return result, {state["__id__"]: state for state in ordered}

    def send_event(self, tag, data):
        """``salt-run event.send``: fire ``data`` under ``tag`` on the master bus, as salt-api's webhook does."""
        sent = self.salt_run("event.send", tag, f"data={json.dumps(data)}")
        assert sent.returncode == 0, sent.stdout + sent.stderr

    def start_verb(self, verb, *args):
        """``salt-run immutable.<verb>`` in the background, progress lines to stdout (a Popen)."""
        return subprocess.Popen(
            [str(BIN / "salt-run"), "-c", str(self.config_dir), f"immutable.{verb}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def mutating_requests(self):
        return [entry for entry in self.control("GET", "requests")["requests"] if entry["method"] != "GET"]

    def control(self, method, path, **body):
        """A call to the emulator's control API; an answer other than 2xx fails the test that made it."""
        url = self.api_url.removesuffix("/v4") + "/_emulator/" + path
        answer = requests.request(method, url, json=body or None, timeout=10)
        assert answer.ok, f"{method} /_emulator/{path} {body}: {answer.status_code} {answer.text}"
        return answer.json()

    def accepted_keys(self):
        listing = subprocess.run(
            [str(BIN / "salt-key"), "-c", str(self.config_dir), "-L", "--out=json"],
            capture_output=True, text=True, timeout=60,
        )
        return json.loads(listing.stdout)["minions"]

    def image_archive(self, image_id):
        return self.folder / "emulator" / "images" / f"{image_id.rpartition('/')[2]}.tar"


class WebhookReceiver:
    """A loopback HTTP endpoint that keeps every JSON body POSTed to it (the reactor recipes' webhook)."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def wait_for(self, matches, timeout=60):
        """The first body received that ``matches``, waiting up to ``timeout`` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [body for body in list(self.received) if matches(body)]
            if found:
                return found[0]
            time.sleep(0.2)
        return None
