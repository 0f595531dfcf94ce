"""EFFECTS: the fleet verbs over the roll — roll (locked, recorded, rolled back on failure), plan, status,
rollback target, drift.

:class:`Context` carries what every verb needs (the cloud adapter, the Salt master, where the lock and
history live, how to report); :mod:`salt_immutable.api` builds it from the master's opts.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

from salt_immutable import drift, history, names, stateful
from salt_immutable import firewall as firewalls
from salt_immutable import lock as locking
from salt_immutable.bake import PROVEN_TAG, image_summary
from salt_immutable.errors import BakeError, GateFailed, ImmutableError, ProviderTimeout, RollError, SaltCallError
from salt_immutable.roll import (
    QUARANTINE,
    SVC_IN,
    VERSION_PREFIX,
    Roll,
    RollJob,
    Timeline,
    delete_orphan_keys,
    ensure_balancer,
    failure_of,
    find_balancer,
    gate_names,
    goal_for,
    is_proven,
    next_generation,
    observe,
    tag_value,
)
from salt_immutable.rollout import planner


@dataclass
class Context:
    """What the fleet verbs need, injected: ``bake(fleet, version)`` returns a proven image."""

    provider: object
    salt: object
    master_address: str
    master_port: int
    folder: str  # the master's cachedir/immutable: locks and history
    bake: object
    user: str | None = None
    progress: object = None
    fire: object = None
    clock: object = time.monotonic
    sleep: object = time.sleep

    def say(self, fleet, message):
        if self.progress is not None:
            self.progress(f"[{fleet}] {message}")


def fleet_image(provider, fleet, version):
    """The image of ``fleet`` at ``version``, proven or not (see :func:`is_proven`), or None."""
    return provider.find_image(names.image_label(fleet, version), (names.PROJECT_TAG, names.fleet_tag(fleet)))


def reconciler(fleet):
    """The roll that converges ``fleet``: a stateful fleet's moves its volumes, one slot at a time."""
    return stateful.StatefulRoll if fleet.volumes else Roll


def running_version(snapshot):
    """The version most in-service servers run (None for a fleet with none in service)."""
    versions = collections.Counter(
        tag_value(s.tags, VERSION_PREFIX) for s in snapshot.servers if SVC_IN in s.tags
    )
    return versions.most_common(1)[0][0] if versions else None


class Timer:
    """Seconds per phase, in the order the phases ran."""

    def __init__(self, clock):
        self.clock = clock
        self.timings = {}

    def run(self, phase, work, *args):
        started = self.clock()
        try:
            return work(*args)
        finally:
            self.timings[phase] = round(self.clock() - started, 2)


# --------------------------------------------------------------------------- roll


def roll_fleet(ctx, fleet, version, *, verb="roll", quarantine=False, wait=0.0, replace=()):
    """Roll ``fleet`` (a FleetSpec) to ``version`` under the fleet's lock; return the fleet's report.

    ``replace`` names servers to replace although they run ``version`` (verb ``replace``: drifted ones).

    Raises :class:`~salt_immutable.errors.RollError` (its ``report`` says what failed, where, and the
    state the fleet is left in) when the roll fails, after auto-rollback when the spec asks for it.
    """
    fleet_lock = locking.FleetLock(ctx.folder, fleet.name, verb, warn=lambda text: ctx.say(fleet.name, text))
    with fleet_lock.acquire(wait):
        history.mark_interrupted(ctx.folder, fleet.name)
        return FleetRoll(ctx, fleet, version, verb, quarantine, fleet_lock, replace).run()


class FleetRoll:
    """One roll of one fleet, once its lock is held: bake if needed, converge, recover on failure."""

    def __init__(self, ctx, fleet, version, verb, quarantine, fleet_lock, replace=()):
        self.ctx, self.fleet, self.version, self.verb = ctx, fleet, version, verb
        self.quarantine, self.lock, self.replace = quarantine, fleet_lock, tuple(replace)
        self.timer = Timer(ctx.clock)
        self.jobs, self.record, self.previous, self.timeline = [], None, None, None
        self.firewall = None

    def run(self):
        provider = self.ctx.provider
        balancer, missing = find_balancer(provider, self.fleet)
        _, firewall_missing = firewalls.find_firewall(provider, self.fleet, self.ctx.master_address)
        missing = missing + firewall_missing
        snapshot, linodes = observe(provider, self.fleet, balancer)
        image = fleet_image(provider, self.fleet.name, self.version)
        delete_orphan_keys(self.ctx.salt, self.fleet.name, linodes, lambda text: self.ctx.say(self.fleet.name, text))
        goal = goal_for(self.fleet, self.version, next_generation(linodes), self.replace)
        if is_proven(image) and not missing and planner.plan(goal, snapshot.view()).complete:
            self.ctx.say(self.fleet.name, f"runs {self.version} on {self.fleet.count} servers already: nothing to do")
            return self.report(snapshot, image, "unchanged", None, None)
        self.previous = running_version(snapshot)
        self.record = history.start(self.ctx.folder, self.fleet.name, self.verb, sorted(snapshot.versions()),
                                    self.version, self.ctx.user)
        self.timeline = Timeline(self.ctx.clock)
        self.fire("started", **{"from": self.record.from_versions}, count=self.fleet.count)
        running = ", ".join(self.record.from_versions) or "no servers"
        self.ctx.say(self.fleet.name, f"{self.verb} {self.record.roll_id}: {running} → {self.version} "
                     f"on {self.fleet.count} servers")
        try:
            image = self.timer.run("bake", self.ensure_image, image)
            balancer = self.timer.run("nodebalancer", ensure_balancer, provider, self.fleet)
            self.firewall = self.ensure_firewall()
            job = self.job(self.version, image, balancer)
            snapshot = self.timer.run("roll", reconciler(self.fleet)(job).converge)
        except ImmutableError as err:
            return self.recover(err, image, balancer)
        except BaseException as err:  # a bug or an interrupted salt-run: the record says so, then it goes on up
            self.abandon(err)
            raise
        finally:
            self.save_progress()
        history.finish(self.ctx.folder, self.record, history.SUCCEEDED)
        report = self.report(snapshot, image, history.SUCCEEDED, None, self.previous)
        self.fire("finished", created=len(self.record.created), destroyed=len(self.record.destroyed),
                  timings=report["timings"])
        return report

    def ensure_image(self, image):
        if is_proven(image):
            return image
        self.ctx.say(self.fleet.name, f"no proven image of {self.version} yet: baking it")
        self.ctx.bake(self.fleet, self.version)
        image = fleet_image(self.ctx.provider, self.fleet.name, self.version)
        if not is_proven(image):
            raise BakeError(f"bake {self.fleet.name}@{self.version} finished but no proven image "
                            f"{names.image_label(self.fleet.name, self.version)} can be found")
        return image

    def ensure_firewall(self):
        """The fleet's Cloud Firewall, to spec (a bake ensured it too: this costs reads only then)."""
        if self.fleet.linode.firewall is None:
            return None
        return self.timer.run("firewall", firewalls.ensure_firewall, self.ctx.provider, self.fleet,
                              self.ctx.master_address, lambda text: self.ctx.say(self.fleet.name, text))

    def job(self, version, image, balancer):
        self.jobs.append(RollJob(
            fleet=self.fleet, version=version, image=image, provider=self.ctx.provider, salt=self.ctx.salt,
            master_address=self.ctx.master_address, master_port=self.ctx.master_port, roll_id=self.record.roll_id,
            balancer=balancer, firewall=self.firewall, quarantine=self.quarantine, replace=self.replace,
            progress=self.ctx.progress, fire=self.ctx.fire,
            fence=self.lock.check, after_batch=self.save_progress, clock=self.ctx.clock,
            sleep=self.ctx.sleep, timeline=self.timeline,
            # Only a roll forward pauses for approval: never a rollback, an auto-rollback or a replacement.
            checkpoints=self.fleet.rollout.checkpoints if self.verb == "roll" and not self.jobs else (),
        ))
        return self.jobs[-1]

    def save_progress(self):
        for job in self.jobs:
            for label in job.created:
                if label not in self.record.created:
                    self.record.created.append(label)
            for label in job.destroyed:
                if label not in self.record.destroyed:
                    self.record.destroyed.append(label)
        self.record.timings = dict(self.timer.timings)
        self.record.events = list(self.timeline.events)
        history.save(self.ctx.folder, self.record)

    def abandon(self, err):
        """End the record of a roll stopped by something other than the project's own errors."""
        ending = history.INTERRUPTED if isinstance(err, KeyboardInterrupt) else history.FAILED
        history.finish(self.ctx.folder, self.record, ending, {"cause": f"{type(err).__name__}: {err}"})

    def recover(self, err, image, balancer):
        """The roll failed: report it, and with ``rollout:auto_rollback`` converge back to the previous version."""
        failure = failure_of(err)
        self.ctx.say(self.fleet.name, f"{self.verb} failed: {err}")
        self.fire("failed", failure=failure, created=len(self.record.created))
        outcome, back_to = history.FAILED, None
        # Only a failed gate or the progress deadline rolls back: an API failure or a lost lock stops here.
        rolls_back = isinstance(err, (GateFailed, ProviderTimeout)) and self.fleet.rollout.auto_rollback
        if rolls_back and self.previous and self.previous != self.version:
            back_to = self.previous
            self.timeline.mark(None, "rollback", to=back_to)
            try:
                self.timer.run("rollback", self.roll_back, back_to, balancer)
                outcome = history.ROLLED_BACK
            except ImmutableError as again:
                failure["rollback"] = str(again)
                self.ctx.say(self.fleet.name, f"rollback to {back_to} failed too: {again}")
            except BaseException as again:
                self.abandon(again)
                raise
            finally:
                self.save_progress()
        history.finish(self.ctx.folder, self.record, outcome, failure)
        snapshot, _ = observe(self.ctx.provider, self.fleet, balancer)
        report = self.report(snapshot, image, outcome, failure, back_to)
        self.fire("rolled_back" if outcome == history.ROLLED_BACK else "stopped", outcome=outcome, back_to=back_to,
                  versions=report["versions"])
        where = f" on {failure['server']}" if failure.get("server") else ""
        raise RollError(f"{self.verb} {self.fleet.name} to {self.version} failed{where}: {failure['cause']}; "
                        f"the fleet now runs {report['versions'] or 'no server'}", report)

    def roll_back(self, version, balancer):
        image = fleet_image(self.ctx.provider, self.fleet.name, version)
        if not is_proven(image):
            raise RollError(f"no proven image {names.image_label(self.fleet.name, version)} to roll back to")
        self.ctx.say(self.fleet.name, f"auto_rollback: converging back to {version}")
        return reconciler(self.fleet)(self.job(version, image, balancer)).converge()

    def report(self, snapshot, image, outcome, failure, back_to):
        jobs, record = self.jobs, self.record
        return {
            "fleet": self.fleet.name,
            "verb": self.verb,
            "roll_id": record.roll_id if record else None,
            "from": record.from_versions if record else sorted(snapshot.versions()),
            "to": self.version,
            "outcome": outcome,
            "changed": outcome != "unchanged",
            "image": image_summary(image) if image else None,
            "created": record.created if record else [],
            "destroyed": record.destroyed if record else [],
            "batches": [batch for job in jobs for batch in job.batches],
            "peak_servers": max((job.peak for job in jobs), default=len(snapshot.servers)),
            "timings": dict(self.timer.timings),
            "versions": snapshot.versions(),
            "servers": snapshot.summary(time.time()),
            "failure": failure,
            "previous_version": back_to,
        }

    def fire(self, phase, **data):
        if self.ctx.fire is not None:
            payload = {"fleet": self.fleet.name, "roll_id": self.record.roll_id, "verb": self.verb,
                       "to": self.version}
            self.ctx.fire(f"salt/immutable/{self.fleet.name}/roll/{phase}", {**payload, **data})


# --------------------------------------------------------------------------- plan


def preview(ctx, fleet, version):
    """What a roll of ``fleet`` to ``version`` would do, from one observation; nothing is mutated.

    The batches come from running the planner against a world where every action succeeds.
    """
    provider = ctx.provider
    balancer, missing = find_balancer(provider, fleet)
    _, firewall_missing = firewalls.find_firewall(provider, fleet, ctx.master_address)
    snapshot, linodes = observe(provider, fleet, balancer)
    image = fleet_image(provider, fleet.name, version)
    goal = goal_for(fleet, version, next_generation(linodes))
    operations = list(firewall_missing)
    operations += [] if is_proven(image) else [
        f"bake {names.image_label(fleet.name, version)}: builder, configure, test, seal, capture, prove"]
    operations += missing
    batches, peak = (stateful.preview(provider, fleet, version, image, snapshot, goal.generation) if fleet.volumes
                     else planned_batches(goal, snapshot, fleet, version, image))
    surge = max(0, peak - fleet.count)
    price = provider.type_hourly_price(fleet.linode.type) if surge else 0.0
    return {
        "fleet": fleet.name,
        "from": snapshot.versions(),
        "to": version,
        "image": image.id if image else None,
        "operations": operations,
        "batches": batches,
        "peak_servers": peak,
        "surge_servers": surge,
        "surge_hourly_cost": round(surge * price, 4),
        "changes": bool(operations or batches),
    }


def planned_batches(goal, snapshot, fleet, version, image):
    """The planner's batches from ``snapshot`` to ``goal`` if every action succeeded, and the peak server count."""
    batches, peak = [], len(snapshot.servers)
    for number, batch in enumerate(planner.simulate(goal, snapshot.view()), start=1):
        peak = max(peak, batch.counts["total"] + len(batch.of_kind(planner.CREATE)))
        batches.append({
            "batch": number,
            "size": len(batch.actions),
            "actions": [{"action": a.kind, "server": a.label, "reason": a.reason,
                         "operations": operations_of(a, fleet, version, image)} for a in batch.actions],
        })
    return batches, peak


def operations_of(action, fleet, version, image):
    """The API and Salt operations one planned action performs, in order."""
    label, nb = action.label, fleet.nodebalancer
    admit = [f"gates: {', '.join(gate_names(fleet))}"]
    admit += [f"add node {label} to NodeBalancer {nb.label or nb.id}:{nb.port}"] if nb else []
    admit += [f"tag {label} {SVC_IN}"]
    remove = [f"delete Linode {label}", f"delete minion key {label}"]
    if action.kind == planner.CREATE:
        source = image.id if image else names.image_label(fleet.name, version)
        behind = f" behind Cloud Firewall {fleet.linode.firewall.describe()}" if fleet.linode.firewall else ""
        return [f"accept a new minion key {label}",
                f"create Linode {label} from {source} ({fleet.linode.type}, {fleet.linode.region}){behind}", *admit]
    if action.kind == planner.ADMIT:
        return admit
    if action.kind == planner.DRAIN:
        drain = [f"tag {label} svc:drain"]
        if nb:
            drain += [f"set node {label} to drain", f"wait {nb.drain_seconds:g} s", f"remove node {label}"]
        return drain + remove
    return ([f"remove node {label}"] if nb else []) + remove


# --------------------------------------------------------------------------- status, history, rollback


def status(ctx, fleet, folder):
    """Desired and running versions, every server, the images (proven, running, rollback target), the
    volumes of a stateful fleet, the lock."""
    provider = ctx.provider
    balancer, _ = find_balancer(provider, fleet)
    snapshot, linodes = observe(provider, fleet, balancer)
    records = history.records(folder, fleet.name)
    running = running_version(snapshot)
    target = rollback_target(folder, running, provider, fleet.name)
    images = []
    for image in sorted(provider.list_images((names.PROJECT_TAG, names.fleet_tag(fleet.name))),
                        key=lambda i: (i.created is None, i.created)):
        version = tag_value(image.tags, VERSION_PREFIX)
        images.append({"label": image.label, "id": image.id, "version": version, "status": image.status,
                       "proven": PROVEN_TAG in image.tags, "running": version in snapshot.versions(),
                       "rollback_target": version == target})
    last = records[-1] if records else None
    return {
        "desired_version": fleet.version,
        "count": fleet.count,
        "running_versions": snapshot.versions(),
        "converged": len(snapshot.servers) == fleet.count and all(
            s["version"] == fleet.version and s["state"] == planner.IN_SERVICE and s["healthy"]
            for s in snapshot.summary(time.time())),
        "servers": snapshot.summary(time.time()),
        "quarantined": sorted(s.label for s in linodes if QUARANTINE in s.tags),
        "nodebalancer": balancer.describe() if balancer else None,
        "firewall": firewalls.status(provider, fleet, snapshot.servers),
        "images": images,
        "volumes": volume_rows(provider, fleet, linodes) if fleet.volumes else [],
        "rollback_target": target,
        "lock": locking.holder(folder, fleet.name),
        "last_roll": last.to_json() if last else None,
    }


def volume_rows(provider, fleet, linodes):
    """The fleet's volumes: slot, size, the server holding each (None when detached), orphaned or not."""
    holders = {s.id: s.label for s in linodes}
    return [{"label": v.label, "id": v.id, "size": v.size, "slot": tag_value(v.tags, "slot:"),
             "attached_to": holders.get(v.linode_id, v.linode_id), "orphaned": "orphaned" in v.tags}
            for v in sorted(provider.list_volumes((names.PROJECT_TAG, names.fleet_tag(fleet.name))),
                            key=lambda v: v.label)]


def rollback_target(folder, current, provider, fleet):
    """Where a rollback goes: the previous good version from history, else the newest other proven image."""
    version = history.previous_good_version(history.records(folder, fleet), current)
    if version:
        return version
    proven = [image for image in provider.list_images((names.PROJECT_TAG, names.fleet_tag(fleet)))
              if PROVEN_TAG in image.tags and tag_value(image.tags, VERSION_PREFIX) != current]
    proven.sort(key=lambda i: (i.created is None, i.created))
    return tag_value(proven[-1].tags, VERSION_PREFIX) if proven else None


def history_rows(folder, fleet=None):
    """Every roll recorded on this master, oldest first, as plain data."""
    return [record.to_json() for record in history.records(folder, fleet)]


# --------------------------------------------------------------------------- drift

DRIFT_TIMEOUT = 600


def check_drift(ctx, fleet):
    """Ask every in-service server of ``fleet`` what its image's bake states would change (``test=True``:
    nothing is applied), and sum it up with :func:`salt_immutable.drift.fleet_report`."""
    snapshot, _ = observe(ctx.provider, fleet, None)
    servers = sorted(s.label for s in snapshot.servers if SVC_IN in s.tags)
    ctx.say(fleet.name, f"drift: checking {len(servers)} servers against their image's bake states (test=True)")
    answers = {label: server_drift(ctx, fleet, label) for label in servers}
    report = drift.fleet_report(answers)
    for label in report["drifted"]:
        found = report["servers"][label]
        ctx.say(fleet.name, f"drift: {label} differs: {', '.join(found['files'] or found['states'])}")
    for label, reason in report["unreachable"].items():
        ctx.say(fleet.name, f"drift: {label} could not be checked: {reason}")
    return {"fleet": fleet.name, "version": fleet.version, "versions": snapshot.versions(), **report}


def replace_drifted(ctx, fleet, report, wait=0.0):
    """Replace the servers :func:`check_drift` found drifted, through the roll, with the others left alone.

    Refused (RollError) unless the whole fleet runs its pillar version: a roll to it would replace every
    server, which is ``immutable.roll``'s job, not drift's.
    """
    if set(report["versions"]) != {fleet.version}:
        raise RollError(f"drift replace {fleet.name}: the fleet runs {', '.join(sorted(report['versions']))}, "
                        f"not the pillar's {fleet.version}: roll it first (immutable.roll), which replaces "
                        "every server")
    return roll_fleet(ctx, fleet, fleet.version, verb="replace", replace=report["drifted"], wait=wait)


def server_drift(ctx, fleet, label):
    """One server's ``immutable.drift`` answer (the module synced first), or the reason it has none."""
    try:
        ctx.salt.call(label, "saltutil.sync_modules", timeout=DRIFT_TIMEOUT)
        answer, _ = ctx.salt.call(label, "immutable.drift", kwarg={"ignore": list(fleet.drift.ignore)},
                                  timeout=DRIFT_TIMEOUT)
    except SaltCallError as err:
        return str(err)
    return answer
