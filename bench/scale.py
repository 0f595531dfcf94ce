"""Figure 4, control-loop scale: ``immutable.plan`` and ``immutable.status`` over a large account.

The account (emulator ``--machines none``) holds :data:`LINODES` Linodes and :data:`IMAGES` images, filled
over the API with rate limits off and transitions immediate; fleet ``web`` owns :data:`FLEET_SERVERS` of the
Linodes (more than one page of Linode's default 100) and :data:`FLEET_IMAGES` of the images, the rest belong
to other fleets. Then, with Linode's rate limits on, ``fleetops.preview`` (plan) and ``fleetops.status``
run with the provider ``salt_immutable.api.provider`` builds. Each is timed :data:`REPEATS` times (the
median is kept): "our own time" is the wall time minus the time spent inside HTTP requests (every
``requests`` send is timed), i.e. the time our code and linode_api4 spend building requests and turning
answers into our model objects; the requests are the emulator's counts.
"""

from __future__ import annotations

import contextlib
import math
import time

import requests

from bench import ratios
from bench.emulator import TOKEN
from salt_immutable import firewall as firewalls
from salt_immutable import fleetops, spec
from salt_immutable.budget import RateBudget
from salt_immutable.linode import LinodeProvider

LINODES, IMAGES = 1000, 200  # one of the Linodes is the images' source
QUICK_LINODES, QUICK_IMAGES = 300, 60
FLEET = "web"
OTHER_FLEETS = 9
REPEATS = 3
MASTER = "127.0.0.1"
TARGET_SECONDS, TARGET_REQUESTS = 1.0, 5
REGION, TYPE = "us-east", "g6-standard-1"
PAGE_SIZE = 500
DEFAULT_PAGE = 100  # Linode's page size when a request asks for none
AS_BUILT = "as built (api.provider)"


def fleet_spec():
    """Fleet ``web`` at version 2 behind a managed Cloud Firewall (every server runs version 1)."""
    return spec.parse({"immutable": {"linode": {"region": REGION, "type": TYPE}, "fleets": {FLEET: {
        "version": "2", "count": 10, "bake": {"states": ["app"]},
        "linode": {"firewall": {"label": f"{FLEET}-fw", "rules": {}}},
    }}}}).fleet(FLEET)


def server_tags(fleet, n):
    return ["immutable", f"fleet:{fleet}", f"version:{1 + n % 2}", "gen:1", "svc:in"]


class Filler:
    """Fills the emulator's account over the raw API (one session, rate limits switched off meanwhile)."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def post(self, path, body):
        answer = self.session.post(f"{self.emulator.api_url}{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def fill(self, linodes, images):
        """``linodes`` Linodes (a quarter of them, at least 1, in fleet ``web``) and ``images`` images."""
        self.emulator.rate_limits(False)
        self.emulator.transitions(policy="immediate")
        fleet_servers = max(1, linodes // 4)
        for n in range(linodes - 1):
            fleet = FLEET if n < fleet_servers else f"other{n % OTHER_FLEETS}"
            self.post("/linode/instances", {"region": REGION, "type": TYPE, "label": f"{fleet}-g1-{n}",
                                            "tags": server_tags(fleet, n)})
        source = self.post("/linode/instances", {"region": REGION, "type": TYPE, "label": "image-source",
                                                 "image": "linode/debian12", "root_pass": "B3nch-only-pass!",
                                                 "booted": False})
        disk = self.session.get(f"{self.emulator.api_url}/linode/instances/{source['id']}/disks", timeout=30)
        disk_id = disk.json()["data"][0]["id"]
        fleet_images = max(1, images // 4)
        for n in range(images):
            fleet = FLEET if n < fleet_images else f"other{n % OTHER_FLEETS}"
            tags = ["immutable", f"fleet:{fleet}", f"version:{n + 1}", *(["proven"] if n % 2 else [])]
            self.post("/images", {"disk_id": disk_id, "label": f"{fleet}-{n + 1}", "tags": tags})
        self.emulator.transitions(policy="timed")
        self.emulator.rate_limits(True)
        return {"linodes": linodes, "images": images, "fleet_servers": fleet_servers,
                "fleet_images": fleet_images}


class HttpTimer:
    """Seconds spent inside ``requests`` sends while :meth:`timing` is active (every session)."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def timing(self):
        original = requests.Session.send

        def timed_send(session, request, **kwargs):
            started = time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        requests.Session.send = timed_send
        try:
            yield self
        finally:
            requests.Session.send = original


def timed(emulator, work):
    """One run of ``work()``: wall and HTTP seconds, our own seconds, and the requests by endpoint."""
    emulator.clear_log()
    timer = HttpTimer()
    with timer.timing():
        started = time.perf_counter()
        work()
        wall = time.perf_counter() - started
    return {"wall_seconds": wall, "http_seconds": timer.seconds, "own_seconds": wall - timer.seconds,
            "requests": emulator.stats()}


def median_run(runs):
    """The run of median own time, its times rounded."""
    chosen = sorted(runs, key=lambda run: run["own_seconds"])[len(runs) // 2]
    return {**{key: round(chosen[key], 4) for key in ("wall_seconds", "http_seconds", "own_seconds")},
            "own_seconds_all": [round(run["own_seconds"], 4) for run in runs], "requests": chosen["requests"]}


def verb_entry(name, provider_name, runs):
    run = median_run(runs)
    total = run["requests"]["total"]
    return {"verb": name, "provider": provider_name, **run, "request_count": total,
            "own_seconds_verdict": ratios.verdict(run["own_seconds"], TARGET_SECONDS, strict=True),
            "requests_verdict": ratios.verdict(total, TARGET_REQUESTS)}


def providers(api_url):
    """The adapter as ``salt_immutable.api.provider`` builds it, and the same with pages of 500."""
    return {AS_BUILT: LinodeProvider(TOKEN, api_url, budget=RateBudget()),
            f"page_size={PAGE_SIZE}": LinodeProvider(TOKEN, api_url, page_size=PAGE_SIZE, budget=RateBudget())}


def verbs(ctx, fleet, folder):
    """``{"plan": work, "status": work}``: the two verbs over ``ctx``, ready to time."""
    return {"plan": lambda: fleetops.preview(ctx, fleet, fleet.version),
            "status": lambda: fleetops.status(ctx, fleet, str(folder))}


def measure(emulator, folder, quick=False):
    """Figure 4's measurements: the account, then plan and status with each provider, :data:`REPEATS` times."""
    account = Filler(emulator).fill(*((QUICK_LINODES, QUICK_IMAGES) if quick else (LINODES, IMAGES)))
    fleet, entries = fleet_spec(), []
    for provider_name, provider in providers(emulator.api_url).items():
        firewalls.ensure_firewall(provider, fleet, MASTER, lambda text: None)
        ctx = fleetops.Context(provider=provider, salt=None, master_address=MASTER, master_port=4506,
                               folder=str(folder), bake=None)
        entries += [verb_entry(name, provider_name, [timed(emulator, work) for _ in range(REPEATS)])
                    for name, work in verbs(ctx, fleet, folder).items()]
    return {"account": account, "verbs": entries}


def figure(measured):
    """Figure 4 for the report: our own time and the requests of plan and status, per provider."""
    built = [entry for entry in measured["verbs"] if entry["provider"] == AS_BUILT]
    worst_own = max(entry["own_seconds"] for entry in built)
    worst_requests = max(entry["request_count"] for entry in built)
    met = all(e["own_seconds_verdict"] == "met" and e["requests_verdict"] == "met" for e in built)
    account = measured["account"]
    return {
        "title": "Control-loop scale",
        "command": ".venv/bin/python -m bench.run --only scale",
        "target": f"< {TARGET_SECONDS:g} s of our own time and <= {TARGET_REQUESTS} requests for plan and status",
        "value": f"worst {worst_own} s of our own time, {worst_requests} requests (provider as built)",
        "verdict": "met" if met else "gap",
        "columns": ["verb", "provider", "wall s", "in HTTP s", "own s", "requests", "by endpoint"],
        "rows": [[e["verb"], e["provider"], e["wall_seconds"], e["http_seconds"], e["own_seconds"],
                  e["request_count"], ", ".join(f"{route} {n}" for route, n in e["requests"].items()
                                                if route != "total")] for e in measured["verbs"]],
        "notes": [
            f"Account: {account['linodes']} Linodes ({account['fleet_servers']} of fleet `web`, the rest of "
            f"{OTHER_FLEETS} other fleets) and {account['images']} images ({account['fleet_images']} of `web`); "
            "emulator `--machines none`, Linode's rate limits on; fleet `web` behind a Cloud Firewall, no "
            "NodeBalancer. `fleetops.preview` (plan) and `fleetops.status` with a real `LinodeProvider`.",
            "Our own time = wall time minus the time spent inside HTTP requests (every `requests` send timed); "
            f"median of {REPEATS} runs. It is what our code and linode_api4 spend building requests and turning "
            "answers into model objects; the emulator's own work is inside the HTTP time.",
            f"The `page_size={PAGE_SIZE}` rows are the proposed fix measured side by side: the adapter as "
            "`api.provider` builds it sets no page size, so linode_api4 asks for Linode's default of "
            f"{DEFAULT_PAGE} and a fleet of {account['fleet_servers']} servers takes "
            f"{math.ceil(account['fleet_servers'] / DEFAULT_PAGE)} page(s) of `GET /linode/instances`.",
        ],
    }
