"""EFFECTS: bake a fleet's image — build, configure, test, seal, capture, prove.

A builder Linode boots from the base image as a pre-accepted minion, applies the bake states, passes
the image tests and is sealed; its disk is captured as ``<fleet>-<version>``. A candidate then boots
from the image as a fresh minion, runs the boot states and must pass the tests with zero changes under
``test=True`` before the image is tagged ``proven``. Every failure removes what this bake created
(Linodes and their minion keys) unless asked to keep it; leftovers of a crashed bake (found by tag)
are removed by the next one. A proven image is never baked again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import salt.version

import salt_immutable
from salt_immutable import checks, names, seed
from salt_immutable import firewall as firewalls
from salt_immutable.errors import BakeError, CheckFailed, ImmutableError

PROVEN_TAG = "proven"
ROLE_TAG_PREFIX = "bake:"
BOOT_TIMEOUT = 900
STATE_TIMEOUT = 1800
CAPTURE_TIMEOUT = 1800
HTTP_TIMEOUT = 300
SEAL_TIMEOUT = 120


@dataclass
class BakeJob:
    """Everything one bake needs; the Salt and Linode sides are injected."""

    fleet: object  # spec.FleetSpec
    version: str
    provider: object  # linode.LinodeProvider
    salt: object  # master.SaltMaster
    master_address: str
    master_port: int
    progress: object = print
    fire: object = None
    force: bool = False
    keep_on_failure: bool = False
    timings: dict = field(default_factory=dict)
    created: dict = field(default_factory=dict)  # minion id / label -> Linode id
    builder_identity: dict | None = None  # hashes of the builder's id, key, machine-id and host keys
    firewall: object = None  # model.FirewallRef the builder and candidate are created behind
    phase: str = "start"


def image_tags(fleet, version):
    return (names.PROJECT_TAG, names.fleet_tag(fleet), names.version_tag(version))


def machine_tags(fleet, version, role):
    return (*image_tags(fleet, version), f"{ROLE_TAG_PREFIX}{role}")


def is_bake_machine(fleet, label, tags, roles):
    """True when ``label`` is the builder or candidate label of ``fleet`` at the version its tags name,
    for the one role it is tagged with."""
    version = names.bake_machine_version(fleet, label)
    if version is None or names.version_tag(version) not in tags or len(roles) != 1:
        return False
    expected = {"builder": names.builder_label, "candidate": names.candidate_label}.get(roles[0])
    return expected is not None and expected(fleet, version) == label


def http_url(fleet, server):
    """The ``tests:http`` URL of ``fleet`` on ``server``'s private address."""
    check = fleet.tests.http
    return f"http://{server.private_ip}:{check.port}{check.path}"


def image_summary(image):
    return {"id": image.id, "label": image.label, "status": image.status, "size": image.size,
            "tags": list(image.tags)}


class Bake:
    """One bake of ``job.fleet`` at ``job.version``."""

    def __init__(self, job: BakeJob):
        self.job = job
        self.fleet = job.fleet
        self.label = names.image_label(self.fleet.name, job.version)
        self.tags = image_tags(self.fleet.name, job.version)

    # ------------------------------------------------------------------ the pipeline

    def run(self):
        image = self.job.provider.find_image(self.label, self.tags)
        if image is not None and PROVEN_TAG in image.tags:
            self.say(f"{self.label} is already baked and proven: {image.id}")
            return self.result(image, changed=False)
        self.remove_leftovers()
        try:
            if self.fleet.linode.firewall is not None:
                with self.stage("firewall"):
                    self.job.firewall = firewalls.ensure_firewall(
                        self.job.provider, self.fleet, self.job.master_address, self.say)
            if image is not None and self.job.force:
                self.say(f"re-baking the unproven image {image.id}")
                self.job.provider.delete_image(image.id)
                image = None
            if image is None:
                image = self.build()
            else:
                self.say(f"{self.label} exists but is not proven yet: proving {image.id}")
                image = self.job.provider.wait_for_image(image.id, self.job.provider.deadline(CAPTURE_TIMEOUT))
            image = self.prove(image)
        except ImmutableError as err:
            self.fire(self.job.phase, "failed", error=str(err))
            self.clean_up()
            raise BakeError(f"bake {self.fleet.name}@{self.job.version} failed in {self.job.phase}: {err}") from err
        except BaseException:  # a bug, an interrupted salt-run, ...: still leave nothing behind
            self.clean_up()
            raise
        return self.result(image, changed=True)

    def build(self):
        builder = names.builder_label(self.fleet.name, self.job.version)
        with self.stage("builder"):
            server = self.boot_minion(builder, "builder", self.fleet.linode.base_image)
        with self.stage("configure"):
            self.apply(builder, self.fleet.bake.states, "bake states")
        with self.stage("test"):
            self.verify(builder, saltcheck=self.fleet.tests.saltcheck, converge=False)
        with self.stage("seal"):
            provenance = self.provenance(builder)
            self.job.builder_identity = self.call(builder, "immutable.identity")
            self.seal(builder, server.id, provenance)
        self.say(f"sealed {builder} in {self.job.timings['seal']:.0f} s: it powered itself off")
        with self.stage("capture"):
            image = self.capture(builder, server.id, provenance)
            self.destroy(builder)
        return image

    def prove(self, image):
        candidate = names.candidate_label(self.fleet.name, self.job.version)
        with self.stage("prove"):
            server = self.boot_minion(candidate, "candidate", image.id)
            if self.fleet.boot.states:
                self.apply(candidate, self.fleet.boot.states, "boot states")
            self.verify(candidate, self.fleet.tests.saltcheck, self.fleet.tests.converge, self.fleet.bake.states)
            checks.check_release(self.job.salt, candidate, image, STATE_TIMEOUT)
            self.say(f"checking that {candidate} holds none of the builder's identity")
            checks.check_sealed(self.job.salt, candidate, self.job.builder_identity, STATE_TIMEOUT)
            if self.fleet.tests.http:
                self.wait_for_http(server)
            image = self.job.provider.set_image_tags(image.id, (*image.tags, PROVEN_TAG))
            self.destroy(candidate)
        return image

    # ------------------------------------------------------------------ steps

    def boot_minion(self, minion_id, role, image):
        """A Linode from ``image`` that comes up as minion ``minion_id`` (key pre-accepted), synced."""
        self.say(f"booting {role} {minion_id} from {image}")
        keys = self.job.salt.accept_new_key(minion_id)
        self.job.created[minion_id] = None
        grains = {"immutable": {"fleet": self.fleet.name, "version": self.job.version, "role": role}}
        user_data = seed.minion_cloud_config(minion_id, self.job.master_address, self.job.master_port, keys, grains)
        provider, spec = self.job.provider, self.fleet.linode
        firewall = self.job.firewall
        server = provider.create_instance(
            minion_id, spec.region, spec.type, image,
            tags=machine_tags(self.fleet.name, self.job.version, role), user_data=user_data,
            firewall_id=firewall.id if firewall else None,
        )
        self.job.created[minion_id] = server.id
        server = provider.wait_for_status(server.id, "running", provider.deadline(BOOT_TIMEOUT))
        if firewall:
            firewalls.check_device(provider, firewall, server)
            self.say(f"{minion_id} is behind Cloud Firewall {firewall.label} ({firewall.id})")
        self.job.salt.wait_for_minion(minion_id, provider.deadline(BOOT_TIMEOUT))
        self.call(minion_id, "saltutil.sync_all")
        return server

    def apply(self, minion_id, states, what):
        self.say(f"applying {what} {', '.join(states)} on {minion_id}")
        checks.apply_states(self.job.salt, minion_id, states, what, STATE_TIMEOUT)

    def verify(self, minion_id, saltcheck, converge, states=()):
        self.say(f"testing {minion_id}")
        checks.verify(self.job.salt, minion_id, saltcheck, converge, states, STATE_TIMEOUT)

    def wait_for_http(self, server):
        url = http_url(self.fleet, server)
        self.say(f"waiting for {url}")
        checks.wait_for_http(url, self.job.provider.deadline(HTTP_TIMEOUT))

    def provenance(self, builder):
        lowstate, _ = self.job.salt.call(builder, "state.show_low_sls", [",".join(self.fleet.bake.states)])
        digest = hashlib.sha256(json.dumps(lowstate, sort_keys=True, default=str).encode()).hexdigest()
        minion_salt, _ = self.job.salt.call(builder, "test.version")
        return {
            "fleet": self.fleet.name,
            "version": self.job.version,
            "bake_states": list(self.fleet.bake.states),
            "lowstate_sha256": digest,
            "base_image": self.fleet.linode.base_image,
            "salt_version": str(minion_salt or salt.version.__version__),
            "salt_immutable_version": salt_immutable.__version__,
            "state_tree_commit": self.job.salt.state_tree_commit(),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def seal(self, builder, linode_id, provenance):
        """Seal the builder; its sweep ends by powering the machine off, and the Linode going offline is
        the seal's end (with the Shutdown Watchdog off, so that nobody boots it again)."""
        provider = self.job.provider
        provider.disable_watchdog(linode_id)
        self.say(f"sealing {builder}: removing its identity, scanning for secrets, stopping its minion, powering off")
        self.call(builder, "immutable.seal", kwarg={"release": provenance, "poweroff": True,
                                                     "secret_keys": list(self.fleet.bake.secrets)})
        try:
            provider.wait_for_status(linode_id, "offline", provider.deadline(SEAL_TIMEOUT))
        except ImmutableError as err:
            raise CheckFailed(f"{builder} did not power itself off after its seal: {err}") from err

    def capture(self, builder, linode_id, provenance):
        provider = self.job.provider
        self.say(f"capturing {self.label} from the disk of {builder}")
        disk = provider.root_disk(linode_id)
        description = json.dumps(provenance, sort_keys=True)
        image = provider.capture_image(disk.id, self.label, description=description, tags=self.tags)
        return provider.wait_for_image(image.id, provider.deadline(CAPTURE_TIMEOUT))

    def destroy(self, minion_id):
        """Delete a Linode this bake made, and its minion key (the key also when the delete fails)."""
        linode_id = self.job.created.get(minion_id)
        try:
            if linode_id is not None:
                self.job.provider.delete_instance(linode_id)
            self.job.created.pop(minion_id, None)
        finally:
            self.job.salt.delete_key(minion_id)

    def clean_up(self):
        """After a failure: remove everything this bake made, each part even when another fails."""
        if self.job.keep_on_failure:
            kept = ", ".join(self.job.created) or "nothing"
            self.say(f"keeping {kept} for debugging (keep_builder_on_failure)")
            return
        for minion_id in list(self.job.created):
            try:
                self.destroy(minion_id)
            except Exception as err:  # report, and go on cleaning: the bake's own error wins
                self.say(f"could not remove {minion_id}: {err}")

    def remove_leftovers(self):
        """Builders and candidates of this fleet left by a crashed bake of any version, and their keys.

        Bakes of a fleet hold its lock, so none of them is in use. Only a Linode whose label, version tag
        and role tag all say it is one is removed: a tag alone could be set on any Linode by mistake.
        """
        for server in self.job.provider.list_fleet(self.fleet.name):
            roles = [tag.removeprefix(ROLE_TAG_PREFIX) for tag in server.tags if tag.startswith(ROLE_TAG_PREFIX)]
            if not roles:
                continue
            if not is_bake_machine(self.fleet.name, server.label, server.tags, roles):
                self.say(f"leaving {server.label} ({server.id}): tagged {', '.join(roles)} but not named as one")
                continue
            self.say(f"removing {server.label}, left over by an earlier bake")
            self.job.provider.delete_instance(server.id)
            self.job.salt.delete_key(server.label)

    def call(self, minion_id, fun, arg=(), kwarg=None):
        return self.job.salt.call(minion_id, fun, arg, kwarg, timeout=STATE_TIMEOUT)[0]

    # ------------------------------------------------------------------ reporting

    @contextlib.contextmanager
    def stage(self, phase):
        self.job.phase = phase
        self.fire(phase, "started")
        started = time.monotonic()
        yield
        self.job.timings[phase] = round(time.monotonic() - started, 2)
        self.fire(phase, "finished", seconds=self.job.timings[phase])

    def fire(self, phase, status, **data):
        if self.job.fire is not None:
            payload = {"fleet": self.fleet.name, "version": self.job.version, "phase": phase, "status": status}
            self.job.fire(f"salt/immutable/{self.fleet.name}/bake/{phase}", {**payload, **data})

    def say(self, message):
        if self.job.progress is not None:
            self.job.progress(f"[{self.fleet.name}@{self.job.version}] {message}")

    def result(self, image, changed):
        provenance = None
        if image.description:
            with contextlib.suppress(ValueError):
                provenance = json.loads(image.description)
        return {
            "result": True,
            "changed": changed,
            "image": image_summary(image),
            "provenance": provenance,
            "timings": dict(self.job.timings),
        }
