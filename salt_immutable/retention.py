"""PURE: which of a fleet's images a prune keeps, and why; which it deletes.

An image is kept when something still needs it (the pillar's version, a Linode created from it, the
rollback target, an unfinished roll, a capture in progress) and, after those, while fewer than ``keep``
images are kept, newest first. Only images carrying the project's and the fleet's tags are ever
considered: anything else in the account is not ours to delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from salt_immutable import names

AVAILABLE = "available"
NEWEST = "one of the {keep} newest"


@dataclass(frozen=True)
class Image:
    """What a prune needs to know of one image."""

    id: str
    label: str
    version: str | None
    status: str
    created: datetime | None
    tags: tuple[str, ...] = ()


@dataclass
class Decision:
    """Keep or delete one image, with every reason that applies."""

    image: Image
    keep: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self):
        return {"id": self.image.id, "label": self.image.label, "version": self.image.version,
                "created": self.image.created.isoformat() if self.image.created else None,
                "reasons": list(self.reasons)}


def needs(image, *, pillar_version, rollback_target, in_flight, used_by):
    """The reasons that forbid deleting ``image``: empty when nothing needs it.

    ``in_flight`` are the versions an unfinished roll goes from or to; ``used_by`` maps an image id to
    the labels of the Linodes (running or stopped) created from it.
    """
    reasons = []
    if image.version is not None and image.version == pillar_version:
        reasons.append(f"the pillar names version {pillar_version}")
    if image.version is not None and image.version == rollback_target:
        reasons.append("it is the rollback target")
    if image.version is not None and image.version in in_flight:
        reasons.append("an unfinished roll uses it")
    users = sorted(used_by.get(image.id, ()))
    if users:
        reasons.append(f"Linodes were created from it: {', '.join(users)}")
    if image.status != AVAILABLE:
        reasons.append(f"it is {image.status}, not available")
    return reasons


def is_ours(image, fleet):
    """True for an image carrying both the project's tag and the fleet's."""
    return names.PROJECT_TAG in image.tags and names.fleet_tag(fleet) in image.tags


def choose(images, fleet, keep, *, pillar_version, rollback_target=None, in_flight=(), used_by=None):
    """One Decision per image of ``fleet`` (images of others are left out), newest first.

    Every image something needs is kept; then the newest others while fewer than ``keep`` are kept;
    the rest are deleted.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    ours = sorted((image for image in images if is_ours(image, fleet)), key=_newest_first, reverse=True)
    decisions = []
    for image in ours:
        reasons = needs(image, pillar_version=pillar_version, rollback_target=rollback_target,
                        in_flight=set(in_flight), used_by=used_by or {})
        decisions.append(Decision(image, keep=bool(reasons), reasons=reasons))
    kept = sum(decision.keep for decision in decisions)
    for decision in decisions:
        if not decision.keep and kept < keep:
            decision.keep, kept = True, kept + 1
            decision.reasons.append(NEWEST.format(keep=keep))
        elif not decision.keep:
            decision.reasons.append(f"beyond retention:keep {keep}, and nothing needs it")
    return decisions


def _newest_first(image):
    # Images without a creation time count as the oldest: they are the first a prune may let go.
    return (image.created is not None, image.created or datetime.min), image.id


def by_outcome(decisions):
    """``{"kept": [...], "deleted": [...]}`` as plain data."""
    return {"kept": [d.to_dict() for d in decisions if d.keep],
            "deleted": [d.to_dict() for d in decisions if not d.keep]}
