"""Domain rules for request values (pure). Each check raises EmuApiError 400 naming the field."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

from linode_emu.errors import invalid

_LINODE_LABEL = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9_.-])+$")
_VOLUME_LABEL = re.compile(r"^[a-zA-Z]((?!--|__)[a-zA-Z0-9_-])+$")
_NODEBALANCER_LABEL = re.compile(r"^[a-zA-Z0-9_-]{3,32}$")
_NODE_LABEL = re.compile(r"^[a-zA-Z0-9_.-]{3,32}$")
USER_DATA_MAX_BYTES = 16384


def check_length(field: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise invalid(field, f"Length must be {low}-{high} characters")


def check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise invalid(field, f"Must be between {low} and {high}")


def check_choice(field: str, value, choices) -> None:
    if value not in choices:
        raise invalid(field, f"Must be one of {', '.join(map(str, choices))}")


def check_linode_label(label: str) -> None:
    """3-64 characters, a letter first, no ``--``, ``__`` or ``..``."""
    check_length("label", label, 3, 64)
    if not _LINODE_LABEL.match(label):
        raise invalid(
            "label",
            "Label must begin with a letter and contain only letters, numbers, '-', '_' and '.' "
            "without two of '-', '_' or '.' in a row",
        )


def check_volume_label(label: str) -> None:
    check_length("label", label, 1, 32)
    if not _VOLUME_LABEL.match(label):
        raise invalid(
            "label", "Label must begin with a letter and contain only letters, numbers, '-' and '_'"
        )


def check_nodebalancer_label(label: str) -> None:
    if not _NODEBALANCER_LABEL.match(label):
        raise invalid("label", "Label must be 3-32 letters, numbers, '-' or '_'")


def check_node_label(label: str) -> None:
    if not _NODE_LABEL.match(label):
        raise invalid("label", "Label must be 3-32 letters, numbers, '-', '_' or '.'")


def check_tags(tags: list[str], field: str = "tags") -> None:
    for tag in tags:
        check_length(field, tag, 3, 50)


def check_root_pass(root_pass: str) -> None:
    check_length("root_pass", root_pass, 7, 128)


def check_user_data(user_data: str) -> None:
    """Base64 text of at most USER_DATA_MAX_BYTES."""
    field = "metadata.user_data"
    if len(user_data) > USER_DATA_MAX_BYTES:
        raise invalid(field, f"user_data must be at most {USER_DATA_MAX_BYTES} bytes once encoded")
    try:
        base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, "user_data must be base64 encoded") from None


def check_node_address(address: str) -> None:
    """``<IPv4>:<port>``, as a NodeBalancer node's address."""
    host, _, port = address.rpartition(":")
    try:
        ipaddress.IPv4Address(host)
        port_number = int(port)
    except ValueError:
        raise invalid("address", "Must be an IPv4 address and a port, like 192.168.1.2:80") from None
    check_range("address", port_number, 1, 65535)
