"""PURE: the names salt-immutable gives to Linode resources, and Linode's rules for them.

Every label and tag the project creates is spelled here, so that validating a fleet spec checks the very
names that will later be sent to the API.
"""

import re

LABEL_PATTERN = re.compile(r"[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+")
LABEL_MIN, LABEL_MAX = 3, 64
VOLUME_LABEL_PATTERN = re.compile(r"[a-zA-Z]((?!--|__)[a-zA-Z0-9-_])+")
VOLUME_LABEL_MAX = 32
TAG_MIN, TAG_MAX = 3, 50

PROJECT_TAG = "immutable"


def fleet_tag(fleet):
    """Tag carried by every Linode and image of ``fleet``."""
    return f"fleet:{fleet}"


def version_tag(version):
    """Tag naming the release a Linode runs or an image holds."""
    return f"version:{version}"


def image_label(fleet, version):
    """Label of the image that holds ``fleet`` at ``version``."""
    return f"{fleet}-{version}"


def builder_label(fleet, version):
    """Label of the throwaway Linode that bakes ``fleet`` at ``version``."""
    return f"{fleet}-{version}-build"


def candidate_label(fleet, version):
    """Label of the throwaway Linode that proves the image of ``fleet`` at ``version``."""
    return f"{fleet}-{version}-proof"


def server_label(fleet, generation, index):
    """Label of the ``index``-th server of a fleet's ``generation`` (labels are unique per account)."""
    return f"{fleet}-g{generation}-{index}"


def is_server_label(fleet, label):
    """True when ``label`` is spelled as a server of ``fleet`` (``<fleet>-g<generation>-<index>``)."""
    return re.fullmatch(rf"{re.escape(fleet)}-g[0-9]+-[0-9]+", label) is not None


def bake_machine_version(fleet, label):
    """The version in ``label`` when it is spelled as a builder or candidate of ``fleet``, else None."""
    match = re.fullmatch(rf"{re.escape(fleet)}-(?P<version>.+)-(?:build|proof)", label)
    if match is None or label_problem(label) or tag_problem(version_tag(match["version"])):
        return None
    return match["version"]


def volume_label(fleet, volume, slot):
    """Label of the Block Storage volume ``volume`` of a fleet's ``slot``."""
    return f"{fleet}-{volume}-{slot}"


def label_problem(label):
    """Return why ``label`` is not a valid Linode label, or None when it is."""
    if not LABEL_MIN <= len(label) <= LABEL_MAX:
        return f"label {label!r} must be {LABEL_MIN}-{LABEL_MAX} characters long, not {len(label)}"
    if not LABEL_PATTERN.fullmatch(label):
        return (
            f"label {label!r} is not a valid Linode label (a letter first, then letters, digits, "
            "'-', '_' or '.', never '--', '__' or '..')"
        )
    return None


def volume_label_problem(label):
    """Return why ``label`` is not a valid Block Storage volume label, or None when it is."""
    if not 1 <= len(label) <= VOLUME_LABEL_MAX:
        return f"volume label {label!r} must be 1-{VOLUME_LABEL_MAX} characters long, not {len(label)}"
    if not VOLUME_LABEL_PATTERN.fullmatch(label):
        return (
            f"volume label {label!r} is not a valid Linode volume label (a letter first, then letters, "
            "digits, '-' or '_', never '--' or '__')"
        )
    return None


def tag_problem(tag):
    """Return why ``tag`` is not a valid Linode tag, or None when it is."""
    if not TAG_MIN <= len(tag) <= TAG_MAX:
        return f"tag {tag!r} must be {TAG_MIN}-{TAG_MAX} characters long, not {len(tag)}"
    if not tag.isprintable() or tag != tag.strip():
        return f"tag {tag!r} must be printable, with no space at either end"
    return None
