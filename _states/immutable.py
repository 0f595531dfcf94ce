"""Orchestration states of salt-immutable: images and fleets as requisite-able states for ``salt-run state.orch``.

Orchestration runs states on the master, with the master's config, so these states do what the runner's
verbs do, through the same ``salt_immutable.api`` calls. Thin: each state calls one verb and turns its
return into Salt's state return (``changes`` say what was baked, replaced or deleted; under ``test=True``
the result is None and ``changes`` hold the planned operations; a failure is ``result: False``, so
requisites and ``failhard`` stop the orchestration). Progress lines go to stderr while a state works.
"""

import sys
from typing import TYPE_CHECKING

try:
    from salt_immutable import api, errors

    IMPORT_ERROR = None
except ImportError as err:  # the classic sync path on a master without the library
    IMPORT_ERROR = str(err)

if TYPE_CHECKING:
    __opts__: dict

__virtualname__ = "immutable"


def __virtual__():
    if IMPORT_ERROR:
        return False, f"the salt_immutable library is not importable ({IMPORT_ERROR}): pip install salt-immutable"
    return __virtualname__


def image_present(name, version=None, force=False, keep_builder_on_failure=False, wait=0):
    """
    A proven image of fleet ``name`` at ``version`` exists: baked, sealed, captured and proven if not.

    ``changes`` name the image baked. Under ``test=True``: None and the bake it would run, or True when
    the image is already proven.

    CLI Example:

    .. code-block:: yaml

        # salt/orch/immutable/bake.sls, run with: salt-run state.orch orch.immutable.bake
        web-image:
          immutable.image_present:
            - name: web
            - version: "1.4.3"

    name
        The fleet.
    version
        The version (quoted). Defaults to the fleet's version in pillar.
    force
        Re-bake an image that exists but is not proven. Defaults to False.
    keep_builder_on_failure
        Keep a failed builder and its key for debugging. Defaults to False.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    """
    if __opts__.get("test"):
        return _run(name, lambda: _planned_bake(name, version))

    def bake():
        report = api.bake(__opts__, name, version=version, force=force,
                          keep_builder_on_failure=keep_builder_on_failure, wait=wait, progress=_progress)
        image = report["image"]
        if not report.get("changed"):
            return _ret(name, True, f"image {image['label']} is proven already ({image['id']})")
        return _ret(name, True, f"baked and proved image {image['label']} ({image['id']})",
                    {"baked": {"image": image["id"], "label": image["label"], "timings": report["timings"]}})

    return _run(name, bake)


def fleet_converged(name, version=None, quarantine=False, wait=0):
    """
    Fleet ``name`` runs ``version`` on as many servers as the pillar asks: its servers are replaced
    through the roll if not (bounded batches, every gate, drain and destroy, ``rollout:checkpoints``,
    auto-rollback), and the image is baked first when no proven one exists.

    ``changes`` list the servers created and destroyed. A failed roll fails the state, after the
    rollback when ``rollout:auto_rollback`` is on. Under ``test=True``: None and the planned batches,
    or True when the fleet has converged.

    CLI Example:

    .. code-block:: yaml

        # salt/orch/immutable/roll.sls, run with: salt-run state.orch orch.immutable.roll pillar='{"fleet": "web"}'
        web-servers:
          immutable.fleet_converged:
            - name: web
            - require:
              - immutable: web-image

    name
        The fleet.
    version
        The version to run (quoted). Defaults to the fleet's version in pillar.
    quarantine
        Stop and tag servers that fail a gate instead of deleting them. Defaults to False.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    """
    if __opts__.get("test"):
        return _run(name, lambda: _planned_roll(name, version))

    def roll():
        ret = api.roll(__opts__, fleet=name, version=version, quarantine=quarantine, wait=wait, progress=_progress)
        report = ret["fleets"][name]
        if "outcome" not in report:  # the fleet failed before its roll started: no report, only the error
            return _ret(name, False, ret.get("comment") or report.get("comment", "the roll failed"))
        replaced = {key: report[key] for key in ("roll_id", "from", "to", "outcome", "created", "destroyed")}
        changes = {"replaced": replaced} if report["created"] or report["destroyed"] else {}
        if not ret["result"]:
            return _ret(name, False, ret["comment"], changes)
        if not report["changed"]:
            return _ret(name, True, f"fleet {name} runs {report['to']} already")
        return _ret(name, True, f"fleet {name} rolled to {report['to']} (roll {report['roll_id']})", changes)

    return _run(name, roll)


def images_pruned(name, keep=None, wait=0):
    """
    Fleet ``name`` keeps no image beyond ``retention:keep`` that nothing needs: the others are deleted
    (never the pillar's version, one a Linode was created from, the rollback target, one an unfinished
    roll uses), each archived in the fleet's history first.

    ``changes`` list the images deleted. Under ``test=True``: None and the images that would go.

    CLI Example:

    .. code-block:: yaml

        web-images:
          immutable.images_pruned:
            - name: web
            - keep: 3
            - require:
              - immutable: web-servers

    name
        The fleet.
    keep
        Images to keep. Defaults to the fleet's ``retention:keep``.
    wait
        Seconds to wait for the fleet's lock. Defaults to 0.
    """
    testing = bool(__opts__.get("test"))

    def prune():
        ret = api.prune(__opts__, fleet=name, keep=keep, test=testing, wait=wait, progress=_progress)
        report = ret["fleets"][name]
        if not ret["result"]:
            return _ret(name, False, ret["comment"])
        going = report["would_delete" if testing else "deleted"]
        labels = [image["label"] for image in going]
        if not labels:
            return _ret(name, True, f"fleet {name} keeps {len(report['kept'])} images, none to delete")
        if testing:
            return _ret(name, None, f"would delete {len(labels)} images of {name}", {"would_delete": labels})
        return _ret(name, True, f"deleted {len(labels)} images of {name}", {"deleted": labels})

    return _run(name, prune)


def _planned_bake(name, version):
    preview = api.plan(__opts__, fleet=name, version=version)["fleets"][name]
    bakes = [operation for operation in preview["operations"] if operation.startswith("bake ")]
    if not bakes:
        return _ret(name, True, f"image {name}@{preview['to']} is proven already ({preview['image']})")
    return _ret(name, None, f"would bake {name}@{preview['to']}", {"planned": bakes})


def _planned_roll(name, version):
    preview = api.plan(__opts__, fleet=name, version=version)["fleets"][name]
    if not preview["changes"]:
        return _ret(name, True, f"fleet {name} runs {preview['to']} already")
    planned = {"operations": preview["operations"],
               "batches": [[f"{a['action']} {a['server']}" for a in batch["actions"]] for batch in preview["batches"]],
               "peak_servers": preview["peak_servers"]}
    return _ret(name, None, f"would roll {name} from {', '.join(preview['from']) or 'nothing'} to {preview['to']}",
                {"planned": planned})


def _run(name, work):
    """``work()``'s state return; a library error becomes a failed state naming the cause."""
    try:
        return work()
    except errors.ImmutableError as err:  # Salt logs the failed state with this comment
        return _ret(name, False, str(err))


def _ret(name, result, comment, changes=None):
    return {"name": name, "result": result, "comment": comment, "changes": changes or {}}


def _progress(message):
    print(message, file=sys.stderr, flush=True)
