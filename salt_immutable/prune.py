"""EFFECTS: prune a fleet's images beyond ``retention:keep``, under the fleet's lock.

The decisions are :func:`salt_immutable.retention.choose`'s; this module gathers what they depend on
(the fleet's images, every Linode of the account and the image it was created from, the rollback
target, unfinished rolls) and deletes what may go, each image's provenance appended to the fleet's
history first.
"""

from __future__ import annotations

import json

from salt_immutable import fleetops, history, names, retention
from salt_immutable import lock as locking
from salt_immutable.fleetops import rollback_target, running_version
from salt_immutable.roll import VERSION_PREFIX, observe, tag_value


def roll_and_prune(ctx, fleet, version, **options):
    """:func:`fleetops.roll_fleet`, then, when the roll succeeded and the fleet asks for it
    (``retention:prune_after_roll``), a prune of the fleet (its own lock, taken once the roll's is released)."""
    report = fleetops.roll_fleet(ctx, fleet, version, **options)
    if fleet.retention.prune_after_roll and report["outcome"] == history.SUCCEEDED:
        report["prune"] = prune_fleet(ctx, fleet, wait=options.get("wait", 0.0))
    return report


def prune_fleet(ctx, fleet, keep=None, test=False, wait=0.0):
    """Delete ``fleet``'s images beyond ``keep`` (``retention:keep`` by default) that nothing needs.

    With ``test``, only say what would go and why each kept image stays.
    """
    keep = fleet.retention.keep if keep is None else keep
    fleet_lock = locking.FleetLock(ctx.folder, fleet.name, "prune", warn=lambda text: ctx.say(fleet.name, text))
    with fleet_lock.acquire(wait):
        decisions = decide(ctx, fleet, keep)
        outcome = retention.by_outcome(decisions)
        if test:
            return {"fleet": fleet.name, "test": True, "keep": keep, "kept": outcome["kept"],
                    "would_delete": outcome["deleted"], "changed": False}
        for decision in decisions:
            if not decision.keep:
                fleet_lock.check()
                delete(ctx, fleet.name, decision)
        return {"fleet": fleet.name, "keep": keep, "kept": outcome["kept"], "deleted": outcome["deleted"],
                "changed": bool(outcome["deleted"])}


def decide(ctx, fleet, keep):
    """retention.choose over what the cloud and the history show now."""
    provider = ctx.provider
    ctx.say(fleet.name, "prune: reading the fleet's images, every Linode of the account and the history")
    images = provider.list_images((names.PROJECT_TAG, names.fleet_tag(fleet.name)))
    used_by = {}
    for linode in provider.list_instances():
        if linode.image:
            used_by.setdefault(linode.image, []).append(linode.label)
    snapshot, _ = observe(provider, fleet, None)
    target = rollback_target(ctx.folder, running_version(snapshot), provider, fleet.name)
    decisions = retention.choose(
        [as_candidate(image) for image in images], fleet.name, keep, pillar_version=fleet.version,
        rollback_target=target, in_flight=unfinished_versions(ctx.folder, fleet.name), used_by=used_by,
    )
    for decision in decisions:
        verdict = "keep" if decision.keep else "delete"
        ctx.say(fleet.name, f"prune: {verdict} {decision.image.label} ({decision.image.id}): "
                            f"{'; '.join(decision.reasons)}")
    return decisions


def as_candidate(image):
    return retention.Image(id=image.id, label=image.label, version=tag_value(image.tags, VERSION_PREFIX),
                           status=image.status, created=image.created, tags=tuple(image.tags))


def unfinished_versions(folder, fleet):
    """The versions a running roll works with, and those of the last roll when it was interrupted (the
    next roll resumes it)."""
    records = history.records(folder, fleet)
    unfinished = [r for r in records if r.outcome == history.RUNNING]
    if records and records[-1].outcome == history.INTERRUPTED:
        unfinished.append(records[-1])
    return {version for record in unfinished for version in (*record.from_versions, record.to_version)}


def delete(ctx, fleet, decision):
    """Archive the image's provenance in the fleet's history, then delete it."""
    image = ctx.provider.get_image(decision.image.id)
    try:
        provenance = json.loads(image.description) if image.description else None
    except ValueError:
        provenance = image.description
    history.archive_image(ctx.folder, fleet, {**decision.to_dict(), "provenance": provenance,
                                              "tags": list(image.tags)})
    ctx.provider.delete_image(image.id)
    ctx.say(fleet, f"prune: deleted {image.label} ({image.id}), its provenance archived in the history")
