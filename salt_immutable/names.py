"""PURE: the names salt-immutable gives to Linode resources, and Linode's rules for them.

Every label and tag the project creates is spelled here, so that validating a fleet spec checks the very
names that will later be sent to the API.
"""

import re

LABEL_PATTERN = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9-_.])+$")
LABEL_MIN, LABEL_MAX = 3, 64
VOLUME_LABEL_PATTERN = re.compile(r"^[a-zA-Z]((?!--|__)[a-zA-Z0-9-_])+$")
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


def volume_label(fleet, volume, slot):
    """Label of the Block Storage volume ``volume`` of a fleet's ``slot``."""
    return f"{fleet}-{volume}-{slot}"


def label_problem(label):
    """Return why ``label`` is not a valid Linode label, or None when it is."""
    if not LABEL_MIN <= len(label) <= LABEL_MAX:
        return f"label {label!r} must be {LABEL_MIN}-{LABEL_MAX} characters long, not {len(label)}"
    if not LABEL_PATTERN.match(label):
        return (
            f"label {label!r} is not a valid Linode label (a letter first, then letters, digits, "
            "'-', '_' or '.', never '--', '__' or '..')"
        )
    return None


def volume_label_problem(label):
    """Return why ``label`` is not a valid Block Storage volume label, or None when it is."""
    if not 1 <= len(label) <= VOLUME_LABEL_MAX:
        return f"volume label {label!r} must be 1-{VOLUME_LABEL_MAX} characters long, not {len(label)}"
    if not VOLUME_LABEL_PATTERN.match(label):
        return (
            f"volume label {label!r} is not a valid Linode volume label (a letter first, then letters, "
            "digits, '-' or '_', never '--' or '__')"
        )
    return None


def tag_problem(tag):
    """Return why ``tag`` is not a valid Linode tag, or None when it is."""
    if not TAG_MIN <= len(tag) <= TAG_MAX:
        return f"tag {tag!r} must be {TAG_MIN}-{TAG_MAX} characters long, not {len(tag)}"
    return None
