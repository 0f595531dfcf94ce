"""Figure 1, roll efficiency: a roll's wall time over its lower bound, with realistic cloud latencies.

The roll is the real one (``fleetops.roll_fleet``: reconciler, planner, gates, the real adapter over real
HTTP) against the emulator started with ``--machines none`` and its simulated delays scaled by
:data:`TIME_SCALE`; Salt is the stand-in of ``tests/support/standin.py``, whose minions answer at once (the
issue's "gates that need no minion"). Every wait of the product is scaled like the cloud: the adapter's
poll interval, back-off and rate budget, and the roll's own pauses.

For each fleet size N the fleet is first brought to N servers of one version (untimed), then rolled to
the other version: that roll is measured. Its lower bound is the replacement time of one server measured
in the same emulator (create from the image until ``running``, then delete until gone, polled finely),
times the rounds the surge allows. The request log of each measured roll is kept for figure 2.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

from bench import ratios
from bench.emulator import TOKEN
from salt_immutable import fleetops, history, spec
from salt_immutable.budget import LINODE_PER_MINUTE, RateBudget
from salt_immutable.config import DEFAULT_POLL_INTERVAL
from salt_immutable.errors import NotFound
from salt_immutable.linode import LinodeProvider
from salt_immutable.rollout.math import fenceposts
from tests.support import standin

TIME_SCALE = 0.1
SIZES, QUICK_SIZES = (1, 3, 10, 30), (1, 3, 10)
FLEET = "app"
VERSIONS = ("1", "2")
MAX_SURGE = "25%"  # the Kubernetes Deployment default; with max_unavailable 0
FINE_POLL = 0.005  # the replacement-time probe's poll: well under the cloud's steps at TIME_SCALE
PROBES = 3
TARGET = 1.15


def fleet_spec(version, count, max_surge=MAX_SURGE):
    """Fleet ``app``: ``count`` servers behind a managed Cloud Firewall, rolled with ``max_surge``."""
    return spec.parse({"immutable": {"linode": {"region": "us-east"}, "fleets": {FLEET: {
        "version": version, "count": count, "bake": {"states": ["app"]},
        "rollout": {"max_surge": max_surge, "max_unavailable": 0, "progress_deadline": 600},
        "linode": {"firewall": {"label": f"{FLEET}-fw", "rules": {}}},
    }}}}).fleet(FLEET)


def scaled_provider(api_url, time_scale, poll_interval=None):
    """The adapter as ``salt_immutable.api.provider`` builds it, every wait of it scaled by ``time_scale``."""
    return LinodeProvider(
        TOKEN, api_url, poll_interval=poll_interval or DEFAULT_POLL_INTERVAL * time_scale,
        backoff=1.0 * time_scale, max_backoff=30.0 * time_scale,
        budget=RateBudget(per_minute=LINODE_PER_MINUTE / time_scale),
    )


class BenchSalt(standin.StandInSalt):
    """The stand-in, whose minions answer the release gate from their own disk as real ones do: no API
    request (the stand-in reads it over the API, which would count against the roll's requests)."""

    release = None

    def release_of(self, minion_id):
        return self.release


@dataclasses.dataclass
class RollWorld:
    """The emulator, the roll's provider, the stand-in and the context, at ``time_scale``."""

    emulator: object
    folder: object
    time_scale: float

    def __post_init__(self):
        self.provider = scaled_provider(self.emulator.api_url, self.time_scale)
        self.salt = BenchSalt(self.provider)
        self.lines = []
        ctx = standin.context(self.provider, self.salt, self.folder / "state", progress=self.lines.append)
        self.ctx = dataclasses.replace(ctx, sleep=lambda seconds: time.sleep(seconds * self.time_scale))
        self.images = {version: standin.proven_image(self.provider, fleet_spec(version, 1), version)
                       for version in VERSIONS}

    def roll(self, version, count, max_surge=MAX_SURGE):
        """Roll fleet ``app`` to ``version`` on ``count`` servers; the report and the wall seconds."""
        self.salt.release = json.loads(self.images[version].description)
        self.lines.clear()
        started = time.monotonic()
        report = fleetops.roll_fleet(self.ctx, fleet_spec(version, count, max_surge), version)
        return report, time.monotonic() - started

    def events(self):
        """The timeline of the last roll (from its history record)."""
        return history.records(self.ctx.folder, FLEET)[-1].events


def replacement_time(emulator, image, time_scale):
    """One server's replacement as the cloud times it: ``{"up": create → running, "gone": delete → gone}``,
    the median of :data:`PROBES` probes polled every :data:`FINE_POLL` seconds."""
    provider = scaled_provider(emulator.api_url, time_scale, poll_interval=FINE_POLL)
    fleet = fleet_spec(VERSIONS[0], 1).linode
    probes = [probe(provider, fleet, image, f"probe-{n}") for n in range(PROBES)]
    return {key: round(statistics.median(p[key] for p in probes), 3) for key in ("up", "gone")}


def probe(provider, linode, image, label):
    """Create Linode ``label`` from ``image``, wait until running, delete it, wait until it is gone."""
    started = time.monotonic()
    server = provider.create_instance(label, linode.region, linode.type, image.id, tags=("bench-probe",))
    provider.wait_for_status(server.id, "running", provider.deadline(600), True)
    up = time.monotonic() - started
    started = time.monotonic()
    provider.delete_instance(server.id)
    while True:
        try:
            provider.get_instance(server.id)
        except NotFound:
            return {"up": up, "gone": time.monotonic() - started}
        time.sleep(FINE_POLL)


def measure(emulator, folder, sizes, time_scale=TIME_SCALE):
    """Figure 1's measurements: one entry per fleet size, with the roll's request log for figure 2."""
    world = RollWorld(emulator, folder, time_scale)
    replacement = replacement_time(emulator, world.images[VERSIONS[0]], time_scale)
    rolls, current = [], VERSIONS[0]
    for count in sizes:
        world.roll(current, count, max_surge="100%")  # set-up, untimed: N servers of the current version
        target = VERSIONS[1] if current == VERSIONS[0] else VERSIONS[0]
        emulator.clear_log()
        report, wall = world.roll(target, count)
        rolls.append(roll_entry(count, report, wall, world, emulator.requests(), replacement))
        current = target
    return {"time_scale": time_scale, "poll_interval": world.provider.poll_interval, "max_surge": MAX_SURGE,
            "replacement": replacement, "rolls": rolls}


def roll_entry(count, report, wall, world, requests, replacement):
    """What one measured roll of ``count`` servers gives: its ratio and where its time went."""
    surge, _ = fenceposts(fleet_spec("1", count).rollout.max_surge, fleet_spec("1", count).rollout.max_unavailable,
                          count)
    bound = ratios.lower_bound(replacement["up"] + replacement["gone"], count, surge)
    return {
        "servers": count, "surge": surge, "rounds": ratios.batches_allowed(count, surge),
        "wall_seconds": round(wall, 3), "lower_bound_seconds": round(bound, 3), "ratio": ratios.ratio(wall, bound),
        "timings": report["timings"], "batches": report["batches"],
        "overhead": overhead(wall, bound, report, world.events(), world.lines, replacement),
        "requests": requests,
    }


def overhead(wall, bound, report, events, lines, replacement):
    """Where the seconds above the lower bound went: outside the batch loop (lock, first observation, firewall,
    history, report), create batches beyond the cloud's create → running, drain batches, and between batches
    (observations, plans, settle pauses). Timeline times count from just before the first phase."""
    creates = [b["seconds"] for b in report["batches"] if any(a.startswith("create") for a in b["actions"])]
    drains = [b["seconds"] for b in report["batches"] if not any(a.startswith("create") for a in b["actions"])]
    in_batches = sum(b["seconds"] for b in report["batches"])
    first_batch = next((e["at"] for e in events if e["event"] == "batch"), 0.0)
    loop_end = sum(report["timings"].values())
    return {
        "above_bound_seconds": round(wall - bound, 3),
        "outside_batch_loop_seconds": round(wall - (loop_end - first_batch), 3),
        "create_batches_beyond_cloud_seconds": round(sum(creates) - len(creates) * replacement["up"], 3),
        "drain_batches_seconds": round(sum(drains), 3),
        "between_batches_seconds": round(loop_end - first_batch - in_batches, 3),
        "settle_pauses": sum(1 for line in lines if "] waiting: " in line),
        "create_batches": len(creates), "drain_batches": len(drains),
    }


def figure(measured):
    """Figure 1 for the report: the ratio per fleet size, and where the time above the bound went."""
    rolls, up, gone = measured["rolls"], measured["replacement"]["up"], measured["replacement"]["gone"]
    worst = max(roll["ratio"] for roll in rolls)
    rows = [[roll["servers"], roll["surge"], roll["rounds"], roll["wall_seconds"], roll["lower_bound_seconds"],
             roll["ratio"], ratios.verdict(roll["ratio"], TARGET), roll["overhead"]["outside_batch_loop_seconds"],
             roll["overhead"]["create_batches_beyond_cloud_seconds"],
             f"{roll['overhead']['drain_batches']} / {roll['overhead']['drain_batches_seconds']}",
             roll["overhead"]["between_batches_seconds"], roll["overhead"]["settle_pauses"]] for roll in rolls]
    return {
        "title": "Roll efficiency",
        "command": ".venv/bin/python -m bench.run --only roll",
        "target": f"wall time / lower bound <= {TARGET} at every N",
        "value": f"worst ratio {worst} (N = {', '.join(str(r['servers']) for r in rolls)})",
        "verdict": ratios.verdict(worst, TARGET),
        "columns": ["N", "surge", "rounds", "wall s", "bound s", "ratio", "verdict", "outside loop s",
                    "create beyond cloud s", "drain batches / s", "between batches s", "settle pauses"],
        "rows": rows,
        "notes": [
            "Method: the real roll (`fleetops.roll_fleet`, real adapter, real HTTP) against the emulator "
            f"(`--machines none`, time scale {measured['time_scale']}); Salt is `tests/support/standin.py`, "
            "whose minions answer at once: the issue's gates that need no minion. Cloud Firewall managed, no "
            f"NodeBalancer; `max_surge: {measured['max_surge']}`, `max_unavailable: 0`; the adapter polls every "
            f"{measured['poll_interval']:g} s (the default 5 s at this scale), the roll's pauses are scaled too.",
            f"Lower bound: one server's replacement as the cloud times it in this run, create → running {up} s "
            f"+ delete → gone {gone} s (median of {PROBES} probes polled every {FINE_POLL} s), times "
            "ceil(N / surge) rounds. All times are real seconds at this scale; only the ratios are claims.",
            *findings(measured),
        ],
    }


def findings(measured):
    """What the measured rolls say about where the time above the bound goes, one sentence each."""
    rolls, up = measured["rolls"], measured["replacement"]["up"]
    creates = sum(r["overhead"]["create_batches"] for r in rolls)
    beyond = sum(r["overhead"]["create_batches_beyond_cloud_seconds"] for r in rolls)
    drains = sum(r["overhead"]["drain_batches"] for r in rolls)
    rounds = sum(r["rounds"] for r in rolls)
    above = sum(r["overhead"]["above_bound_seconds"] for r in rolls)
    said = [f"Over all rolls, {round(above, 2)} s above the bounds: create batches "
            f"{ratios.share(beyond, above)} %, drain batches "
            f"{ratios.share(sum(r['overhead']['drain_batches_seconds'] for r in rolls), above)} %, between batches "
            f"{ratios.share(sum(r['overhead']['between_batches_seconds'] for r in rolls), above)} %, outside the "
            f"batch loop {ratios.share(sum(r['overhead']['outside_batch_loop_seconds'] for r in rolls), above)} %."]
    if creates:
        said.append(f"A create batch lasts {round(beyond / creates, 3)} s longer than the cloud's create → running "
                    f"({up} s) on average: the `running` gate polls every {measured['poll_interval']:g} s (half a "
                    "poll is lost on average at each wait), then the firewall, Salt gates and the `svc:in` tag.")
    if drains > rounds:
        said.append(f"{drains} drain batches for {rounds} rounds: a deleted Linode stays listed (status "
                    "`deleting`) until Linode finishes deleting it, so each next observation plans its drain "
                    "again, at once (no pause), sending another DELETE, fleet listing and key deletion each "
                    "time, until it is gone.")
    return said
