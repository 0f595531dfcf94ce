"""Operator verbs of salt-immutable, run on the master: ``salt-run immutable.<verb>``.

Thin: each verb checks its arguments, makes one library call through ``salt_immutable.api`` and turns
the library's errors into a clean failure (no traceback, non-zero exit, ``result: False``).
"""

import logging
import sys
from typing import TYPE_CHECKING

try:
    from salt_immutable import api, errors

    IMPORT_ERROR = None
except ImportError as err:  # the classic sync path on a master without the library
    IMPORT_ERROR = str(err)

if TYPE_CHECKING:
    __opts__: dict
    __context__: dict
    __jid_event__: object

log = logging.getLogger(__name__)

__virtualname__ = "immutable"


def __virtual__():
    if IMPORT_ERROR:
        return False, f"the salt_immutable library is not importable ({IMPORT_ERROR}): pip install salt-immutable"
    return __virtualname__


def plan(fleet=None, version=None, offline=False):
    """
    Show what ``immutable.roll`` would do, in order: per fleet, the batches of API and Salt operations,
    the peak server count and the surge's hourly cost. Nothing is changed.

    Reads the cloud with a constant number of requests per fleet. A pillar with problems fails with
    every problem named by its pillar path.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.plan
        salt-run immutable.plan fleet=web version="1.4.3" --out=json
        salt-run immutable.plan offline=True

    fleet
        Only this fleet. Defaults to every fleet of the pillar.
    version
        Plan a roll to this version instead of the pillar's (quote it). Defaults to the pillar's.
    offline
        Only validate the pillar and show the desired fleets with every default filled in; no cloud
        call. Defaults to False.
    """
    return _envelope(api.plan, __opts__, fleet=fleet, version=version, offline=offline)


def bake(fleet=None, version=None, force=False, keep_builder_on_failure=False, wait=0, quiet=False):
    """
    Bake the image of a fleet: build, seal, capture and prove it. Idempotent.

    A builder Linode applies the fleet's bake states, passes its tests and is sealed; its disk becomes
    the image ``<fleet>-<version>``, which a candidate Linode must then prove (boot states, tests,
    zero changes under test=True). A proven image for the version is returned as it is.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.bake fleet=web
        salt-run immutable.bake fleet=web version=1.4.3 keep_builder_on_failure=True

    fleet
        The fleet to bake. Required.
    version
        The version to bake. Defaults to the fleet's version in pillar.
    force
        Re-bake an existing image that is not proven yet, instead of proving it. Defaults to False.
    keep_builder_on_failure
        Keep the builder (or candidate) and its key when the bake fails, for debugging. Defaults to False.
    wait
        Seconds to wait for the fleet's lock when a roll or bake of it runs. Defaults to 0.
    quiet
        Print no progress lines (useful with --out=json). Defaults to False.
    """
    return _envelope(
        api.bake,
        __opts__,
        fleet,
        version=version,
        force=force,
        keep_builder_on_failure=keep_builder_on_failure,
        wait=wait,
        progress=None if quiet else _progress,
    )


def roll(fleet=None, version=None, test=False, quarantine=False, wait=0, quiet=False):
    """
    Replace a fleet's servers with new ones booted from its proven image, in bounded batches.

    For each fleet whose servers differ from the pillar (or only ``fleet``): bake the image if no
    proven one exists, then observe → plan → act until the fleet converges. New servers pass every
    gate (running, minion, boot states, verify, release, HTTP, NodeBalancer UP, warmup) before they
    serve; old ones are drained and destroyed with their minion keys. On a failed gate or the
    progress deadline the failed servers are removed and, with ``rollout:auto_rollback``, the fleet
    converges back to the version it ran before; the run then exits non-zero. Running it again on a
    fleet that matches the pillar changes nothing. A killed roll is finished by the next one.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.roll
        salt-run immutable.roll fleet=web
        salt-run immutable.roll fleet=web version="1.4.3" test=True

    fleet
        Only this fleet. Defaults to every fleet of the pillar (rolled concurrently, each under its lock).
    version
        Roll to this version instead of the pillar's (quote it). Defaults to the pillar's.
    test
        Show the plan (as ``immutable.plan``) and change nothing. Defaults to False.
    quarantine
        Stop servers that fail a gate and tag them ``quarantine`` instead of deleting them (their
        minion key is kept), for debugging. Defaults to False.
    wait
        Seconds to wait for the fleet's lock when another roll or bake holds it. Defaults to 0.
    quiet
        Print no progress lines (useful with --out=json). Defaults to False.
    """
    return _envelope(api.roll, __opts__, fleet=fleet, version=version, test=test, quarantine=quarantine, wait=wait,
                     progress=None if quiet else _progress)


def rollback(fleet=None, to=None, quarantine=False, wait=0, quiet=False):
    """
    Roll a fleet back to a kept, proven image: the previous good version, or ``to``.

    The previous version comes from the master's roll history, else from the newest other proven
    image. The pillar is not changed: revert its version too, or the next ``immutable.roll`` rolls
    forward again.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.rollback fleet=web
        salt-run immutable.rollback fleet=web to="1.4.1"

    fleet
        The fleet to roll back. Required.
    to
        The version to return to (quote it). Defaults to the previous good version.
    quarantine
        As for ``immutable.roll``. Defaults to False.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    quiet
        Print no progress lines. Defaults to False.
    """
    return _envelope(api.rollback, __opts__, fleet, to=to, quarantine=quarantine, wait=wait,
                     progress=None if quiet else _progress)


def status(fleet=None):
    """
    Show each fleet: desired and running versions, every server (version, generation, gate state,
    NodeBalancer node mode and status, age), the images (proven, running, rollback target), the lock
    and the last roll.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.status
        salt-run immutable.status fleet=web --out=json

    fleet
        Only this fleet. Defaults to every fleet of the pillar.
    """
    return _envelope(api.status, __opts__, fleet=fleet)


def history(fleet=None, id=None, picture=None):
    """
    List every roll and rollback recorded on this master, oldest first: id, from → to, start, end,
    outcome, who, servers created and destroyed, the failure if any, seconds per phase; and the
    images pruned, with their provenance (``archived_images``). With ``id``, one roll and its timeline:
    what happened to which server, when (created, each gate, in service, draining, destroyed, and the
    checkpoints); ``picture`` draws that timeline into an SVG file, one lane per server.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.history
        salt-run immutable.history fleet=web --out=json
        salt-run immutable.history fleet=web id=1a2b3c4d
        salt-run immutable.history fleet=web id=1a2b3c4d picture=/tmp/roll.svg

    fleet
        Only this fleet. Defaults to every fleet. Required with ``id`` or ``picture``.
    id
        The roll to show with its timeline (the ``roll_id`` of the listing). Defaults to the fleet's
        latest roll when ``picture`` is given.
    picture
        Write the roll's timeline to this file as an SVG picture. Defaults to None (no picture).
    """
    return _envelope(api.history, __opts__, fleet=fleet, roll_id=id, picture=picture)


def approve(fleet=None, roll_id=None, reject=False):
    """
    Answer a roll that waits at a checkpoint (``rollout:checkpoints``): it goes on with the next batch,
    or, with ``reject=True``, fails like a failed gate and rolls back (``rollout:auto_rollback``).

    The roll fires ``salt/immutable/<fleet>/roll/checkpoint`` and prints the exact command when it
    starts waiting; this fires ``salt/immutable/<fleet>/roll/approval`` with the roll's id.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.approve fleet=web
        salt-run immutable.approve fleet=web roll_id=1a2b3c4d
        salt-run immutable.approve fleet=web roll_id=1a2b3c4d reject=True

    fleet
        The fleet whose roll waits. Required.
    roll_id
        The roll to answer. Defaults to the fleet's running roll on this master.
    reject
        Reject instead of approving. Defaults to False.
    """
    return _envelope(api.approve, __opts__, fleet, roll_id=roll_id, reject=reject)


def drift(fleet=None, replace=False, wait=0, quiet=False):
    """
    Find the servers that no longer match their image (snowflakes), and optionally replace them.

    Runs ``immutable.drift`` on every in-service server: the bake states recorded in the server's
    release are run with ``test=True`` (nothing is ever applied), and every state that would change
    something is reported, per server, with the files concerned. The fleet's ``drift:ignore`` patterns
    (state ids or file path globs) leave known noise out. A server that cannot be asked is listed as
    unreachable, never as clean.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.drift
        salt-run immutable.drift fleet=web replace=True

    fleet
        Only this fleet. Defaults to every fleet of the pillar.
    replace
        Replace the drifted servers with new ones from the fleet's current image, through the roll (same
        gates, same surge rules); the other servers are untouched. The fleet must run its pillar version.
        Defaults to False.
    wait
        Seconds to wait for the fleet's lock when replacing. Defaults to 0.
    quiet
        Print no progress lines. Defaults to False.
    """
    return _envelope(api.drift, __opts__, fleet=fleet, replace=replace, wait=wait,
                     progress=None if quiet else _progress)


def prune(fleet=None, keep=None, test=False, wait=0, quiet=False):
    """
    Delete a fleet's images beyond ``retention:keep`` that nothing needs any more.

    Never deleted: the image of the version the pillar names, an image a Linode (running or stopped)
    was created from, the rollback target, an image an unfinished roll uses, one still being
    captured, and any image without the project's and the fleet's tags. After those, the newest are
    kept until ``keep`` images remain. Each deleted image's provenance is appended to the fleet's
    history first (``immutable.history`` lists it under ``archived_images``).

    CLI Example:

    .. code-block:: bash

        salt-run immutable.prune test=True
        salt-run immutable.prune fleet=web keep=2

    fleet
        Only this fleet. Defaults to every fleet of the pillar.
    keep
        Images to keep per fleet. Defaults to the fleet's ``retention:keep``.
    test
        Only list what would be deleted, and why each kept image stays. Defaults to False.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    quiet
        Print no progress lines. Defaults to False.
    """
    return _envelope(api.prune, __opts__, fleet=fleet, keep=keep, test=test, wait=wait,
                     progress=None if quiet else _progress)


def retire(fleet=None, delete_volumes=False, test=False, wait=0, quiet=False):
    """
    Remove a fleet from the cloud: its Linodes (servers, leftover builders and candidates), their minion
    keys and its managed NodeBalancer. Its Block Storage volumes are kept, tagged ``orphaned``, unless
    ``delete_volumes=True``. Refused while the pillar still wants servers for the fleet (set its
    ``count: 0`` or remove it first). Only what carries the project's and the fleet's tags is touched.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.retire fleet=olddb test=True
        salt-run immutable.retire fleet=olddb delete_volumes=True

    fleet
        The fleet to retire. Required.
    delete_volumes
        Delete the fleet's volumes and the data on them too. Defaults to False.
    test
        Only list what would be removed. Defaults to False.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    quiet
        Print no progress lines. Defaults to False.
    """
    return _envelope(api.retire, __opts__, fleet, delete_volumes=delete_volumes, test=test, wait=wait,
                     progress=None if quiet else _progress)


def unlock(fleet=None, lock_id=None):
    """
    Break a fleet's roll/bake lock, fenced by its lock id; without ``lock_id``, show who holds it.

    A lock whose process is gone is taken over by the next roll anyway; this is for a holder that
    hangs. The holder notices before its next batch and stops.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.unlock fleet=web
        salt-run immutable.unlock fleet=web lock_id=9f2c4e1a0b3d5c7e

    fleet
        The fleet whose lock to break. Required.
    lock_id
        The id of the lock to break, as ``immutable.unlock fleet=`` or ``immutable.status`` shows it.
        Defaults to None (only show the holder).
    """
    return _envelope(api.unlock, __opts__, fleet, lock_id=lock_id)


def _progress(message):
    if __opts__.get("output") not in (None, "immutable_progress"):
        # --out=json or yaml: stdout must hold one parseable document, so progress goes to stderr.
        print(message, file=sys.stderr, flush=True)
        return
    __jid_event__.fire_event({"message": message, "outputter": "immutable_progress"}, "progress")


def _envelope(verb, *args, **kwargs):
    """Run a verb; a library error becomes a structured failure with a non-zero exit code."""
    try:
        ret = verb(*args, **kwargs)
    except errors.ImmutableError as err:
        log.error("immutable: %s", err)
        ret = api.failure(err)
    if ret.get("retcode"):
        __context__["retcode"] = ret["retcode"]
    return ret
