"""PURE: the value types salt-immutable reasons about.

The cloud adapter (``linode.py``) converts every API object into one of these frozen dataclasses at its
boundary, so nothing downstream can touch a lazy client object that fires an HTTP request when an
attribute is read. Collections are tuples; timestamps are timezone-aware UTC datetimes (or None).
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObservedServer:
    """A Linode instance as last read from the API.

    ``private_ip`` is the address NodeBalancers and the master reach it on: the first private IPv4
    address, or the first address when the Linode has no private one (None when it has none at all).
    """

    id: int
    label: str
    status: str
    tags: tuple[str, ...]
    ipv4: tuple[str, ...]
    private_ip: str | None
    region: str | None
    type: str | None
    image: str | None
    created: datetime | None


@dataclass(frozen=True)
class Disk:
    """One disk of a Linode instance; ``size`` is in MB."""

    id: int
    label: str
    filesystem: str
    size: int
    status: str


@dataclass(frozen=True)
class ImageRef:
    """A Linode image (``private/<n>`` for captured ones); ``size`` is in MB."""

    id: str
    label: str
    status: str
    size: int | None
    tags: tuple[str, ...]
    description: str
    created: datetime | None
    capabilities: tuple[str, ...]
    is_public: bool


@dataclass(frozen=True)
class VolumeRef:
    """A Block Storage volume; ``size`` is in GB and ``linode_id`` is None while detached."""

    id: int
    label: str
    size: int
    region: str | None
    status: str
    linode_id: int | None
    filesystem_path: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class NodeBalancerNode:
    """A backend of one NodeBalancer config; ``address`` is ``private-ip:port``."""

    id: int
    config_id: int
    nodebalancer_id: int
    label: str
    address: str
    mode: str
    status: str
    weight: int


@dataclass(frozen=True)
class NodeBalancerRef:
    """A NodeBalancer; ``ipv4`` is its public address and ``hostname`` the name that resolves to it."""

    id: int
    label: str
    region: str | None
    ipv4: str | None
    hostname: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class NodeBalancerConfigRef:
    """One port of a NodeBalancer and its health check; ``check_interval`` and ``check_timeout`` are seconds.

    ``check`` is none, connection, http or http_body; ``check_path`` is the path an http check requests.
    """

    id: int
    nodebalancer_id: int
    port: int
    protocol: str
    check: str
    check_path: str
    check_interval: int
    check_timeout: int
    check_attempts: int


@dataclass(frozen=True)
class FirewallRef:
    """A Cloud Firewall; ``status`` is enabled, disabled or deleted. Its rules are read apart (they are large)."""

    id: int
    label: str
    status: str
    tags: tuple[str, ...]
