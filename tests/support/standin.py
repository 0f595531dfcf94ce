"""Rolls against the emulator with ``--machines none``: the real roll, the real adapter over real HTTP,
and a stand-in for the Salt master side, which no machine could answer.

:class:`StandInSalt` has the part of :class:`salt_immutable.master.SaltMaster` a roll uses. Its minions
answer at once and pass every check; ``immutable.release`` answers the provenance of the image the
minion's Linode was created from (read over the API), so the release gate checks something real. Keys
may live in a JSON file, so that a roll killed in one process and run again in another sees the same
keys. :func:`proven_image` makes the image a roll needs (a capture of a Linode's disk, tagged proven)
without a bake, and :func:`context` the :class:`~salt_immutable.fleetops.Context` of such a roll.

For benchmarks and the reliability suite; tests of Salt itself use the lab.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from salt_immutable import bake, fleetops, names
from salt_immutable.errors import SaltCallError

MASTER_ADDRESS = "127.0.0.1"
IMAGE_TIMEOUT = 600


class StandInSalt:
    """Minions that answer at once and pass every check; keys in memory or in ``key_file``.

    ``never_connect`` names minions whose wait fails (as a minion that never connects would).
    """

    def __init__(self, provider, key_file=None, never_connect=()):
        self.provider, self.key_file = provider, Path(key_file) if key_file else None
        self.never_connect = set(never_connect)
        self.fired, self.calls = [], []
        self._guard = threading.Lock()  # a batch's actions accept and delete keys from concurrent threads
        self._keys = set(json.loads(self.key_file.read_text())) if self.key_file and self.key_file.exists() else set()

    def accept_new_key(self, minion_id):
        with self._guard:
            self._save(self._keys | {minion_id})
        return {"pub": f"PUB {minion_id}", "priv": f"PRIV {minion_id}"}

    def key_ids(self):
        return sorted(self._keys)

    def delete_key(self, minion_id):
        with self._guard:
            self._save(self._keys - {minion_id})

    def wait_for_minion(self, minion_id, deadline):
        """At once; for a minion of ``never_connect``, the whole deadline, then the master's error."""
        if minion_id in self.never_connect:
            time.sleep(deadline.remaining())
            raise SaltCallError(f"minion {minion_id} did not answer within {deadline.seconds:.0f}s")

    def call(self, minion_id, fun, arg=(), kwarg=None, timeout=300):
        self.calls.append((minion_id, fun))
        if fun == "immutable.release":
            return self.release_of(minion_id), 0
        answers = {"state.apply": {"standin": {"result": True, "__id__": "standin", "changes": {}}},
                   "immutable.verify": {"result": True, "failures": []},
                   "immutable.check_image": {"result": True, "problems": []}}
        return answers.get(fun, True), 0

    def release_of(self, minion_id):
        """The provenance of the image minion ``minion_id``'s Linode was created from."""
        server = self.provider.find_instance(minion_id)
        image = self.provider.get_image(server.image) if server and server.image else None
        return json.loads(image.description) if image and image.description else None

    def await_event(self, tag, matches, timeout, before=None):
        if before is not None:
            before()
        return None

    def fire(self, tag, data):
        self.fired.append((tag, data))

    def _save(self, keys):
        self._keys = set(keys)
        if self.key_file is not None:  # replaced whole: a process killed meanwhile leaves the old or the new keys
            temporary = self.key_file.with_name(self.key_file.name + ".tmp")
            temporary.write_text(json.dumps(sorted(self._keys)))
            os.replace(temporary, self.key_file)


def proven_image(provider, fleet, version):
    """The proven image of ``fleet`` (a FleetSpec) at ``version``, made when missing: a Linode's disk
    captured with a provenance, then tagged ``proven`` (what a bake ends with, minus Salt).

    Like a bake it resumes: an unproven image (a run killed while capturing) is awaited and proven, and
    the source Linode is deleted however the capture ends (a leftover one too).
    """
    label, tags = names.image_label(fleet.name, version), bake.image_tags(fleet.name, version)
    image = provider.find_image(label, tags)
    if image is not None and bake.PROVEN_TAG in image.tags:
        return image
    source_label = f"{fleet.name}-{version}-src"
    try:
        if image is None:
            image = capture_source(provider, fleet, version, source_label, label, tags)
        image = provider.wait_for_image(image.id, provider.deadline(IMAGE_TIMEOUT))
    finally:
        source = provider.find_instance(source_label)
        if source is not None:
            provider.delete_instance(source.id)
    return provider.set_image_tags(image.id, (*image.tags, bake.PROVEN_TAG))


def capture_source(provider, fleet, version, source_label, label, tags):
    """Start capturing image ``label`` from the disk of a new (or a leftover) Linode ``source_label``, tagged
    with a bake role so that no roll counts it as a server."""
    source = provider.create_instance(source_label, fleet.linode.region, fleet.linode.type,
                                      fleet.linode.base_image, tags=(*tags, f"{bake.ROLE_TAG_PREFIX}source"),
                                      booted=False)
    provider.wait_for_status(source.id, "offline", provider.deadline(IMAGE_TIMEOUT))
    provenance = {"fleet": fleet.name, "version": version, "bake_states": list(fleet.bake.states)}
    return provider.capture_image(provider.root_disk(source.id).id, label, description=json.dumps(provenance),
                                  tags=tags)


def context(provider, salt, folder, progress=None):
    """A :class:`fleetops.Context` whose bake makes the image with :func:`proven_image`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return fleetops.Context(
        provider=provider, salt=salt, master_address=MASTER_ADDRESS, master_port=4506, folder=str(folder),
        bake=lambda fleet, version: proven_image(provider, fleet, version), progress=progress, fire=salt.fire,
    )
