"""Model objects: plain dataclasses whose ``to_json()`` emits exactly Linode's field names.

Fields that the API never shows (``user_data``, a job's deadlines) live on the models too, so that
``dataclasses.asdict`` is their persisted form and ``cls(**state)`` brings them back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from linode_emu import catalog


def api_time(epoch: float) -> str:
    """Linode's datetime format: ``YYYY-MM-DDTHH:MM:SS`` in UTC, no zone, no fraction."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def entity_ref(kind: str, entity_id, label: str | None, url: str) -> dict:
    """An event's ``entity`` / ``secondary_entity`` object, with the object's own id (see :func:`wire_ref`)."""
    return {"id": entity_id, "label": label, "type": kind, "url": "/v4" + url}


def wire_ref(ref: dict | None) -> dict | None:
    """An event's entity as the API sends it: a private image is named by its number, an integer (recorded
    real ``disk_imagize`` events: ``{"id": 30000001, "type": "image", "url": "/v4/images/private/30000001"}``);
    every other object keeps its id (integers; a public image's ``linode/debian12``, the spec's example)."""
    if ref is None:
        return None
    image_number = _private_image_number(ref["id"]) if ref["type"] == "image" else None
    return {**ref, "id": ref["id"] if image_number is None else image_number}


def _private_image_number(image_id) -> int | None:
    prefix, _, number = str(image_id).partition("/")
    return int(number) if prefix == "private" and number.isdigit() else None


@dataclass
class Instance:
    """A Linode. ``user_data`` is kept for the machines (never returned by GET)."""

    id: int
    label: str
    region: str
    type: str
    image: str | None
    status: str
    created: str
    updated: str
    ipv4: list[str]
    host_uuid: str
    tags: list[str] = field(default_factory=list)
    group: str = ""
    user_data: str | None = None
    watchdog_enabled: bool = True
    alerts: dict | None = None
    booted_config_id: int | None = None
    disk_encryption: str = "enabled"

    @property
    def url(self) -> str:
        return f"/linode/instances/{self.id}"

    @property
    def ipv6_address(self) -> str:
        """The SLAAC address of the Linode (``ipv6`` without its prefix length)."""
        return f"2001:db8::{self.id:x}"

    def ref(self) -> dict:
        return entity_ref("linode", self.id, self.label, self.url)

    def to_json(self) -> dict:
        linode_type = catalog.find(catalog.TYPES, self.type)
        return {
            "id": self.id,
            "label": self.label,
            "group": self.group,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "type": self.type,
            "region": self.region,
            "image": self.image,
            "ipv4": list(self.ipv4),
            "ipv6": f"{self.ipv6_address}/128",
            "hypervisor": "kvm",
            "specs": {
                "disk": linode_type["disk"],
                "memory": linode_type["memory"],
                "vcpus": linode_type["vcpus"],
                "gpus": linode_type["gpus"],
                "transfer": linode_type["transfer"],
            },
            "alerts": self.alerts or default_alerts(linode_type["vcpus"]),
            "backups": {
                "enabled": False,
                "available": False,
                "schedule": {"day": None, "window": None},
                "last_successful": None,
            },
            "watchdog_enabled": self.watchdog_enabled,
            "host_uuid": self.host_uuid,
            "has_user_data": self.user_data is not None,
            "disk_encryption": self.disk_encryption,
            "capabilities": instance_capabilities(self.region),
            "tags": list(self.tags),
        }


def instance_capabilities(region_id: str) -> list[str]:
    """What a Linode in this region can do beyond the basics (today's ``Linode.capabilities``)."""
    region = catalog.find(catalog.REGIONS, region_id) or {"capabilities": []}
    return [name for name in ("Block Storage Encryption",) if name in region["capabilities"]]


def default_alerts(vcpus: int) -> dict:
    """The alert thresholds a new Linode gets (CPU scales with its cores)."""
    return {"cpu": 90 * vcpus, "network_in": 10, "network_out": 10, "transfer_quota": 80, "io": 10000}


@dataclass
class Disk:
    """A Linode's disk (root ext4 or swap)."""

    id: int
    linode_id: int
    label: str
    size: int
    filesystem: str
    status: str
    created: str
    updated: str
    disk_encryption: str = "disabled"

    def ref(self) -> dict:
        return entity_ref("disk", self.id, self.label, f"/linode/instances/{self.linode_id}/disks/{self.id}")

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "status": self.status,
            "size": self.size,
            "filesystem": self.filesystem,
            "created": self.created,
            "updated": self.updated,
            "disk_encryption": self.disk_encryption,
        }


def device_slots(count: int) -> tuple[str, ...]:
    """The first ``count`` device names of a config: sda..sdz, then sdaa, sdab, ... (as linode_api4 names them)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    suffixes = [*letters, *(first + second for first in letters for second in letters)]
    return tuple("sd" + suffix for suffix in suffixes[:count])


DEVICE_SLOTS = device_slots(8)


def device_limit(memory_mb: int) -> int:
    """How many devices a config of a Linode with this much memory has: one per GB, from 8 up to 64."""
    return max(8, min(memory_mb // 1024, 64))


@dataclass
class Config:
    """A Linode's configuration profile; ``devices`` maps sda..sdh to a disk, a volume or None."""

    id: int
    linode_id: int
    label: str
    devices: dict
    created: str
    updated: str
    slots: int = len(DEVICE_SLOTS)
    kernel: str = "linode/grub2"
    comments: str = ""
    root_device: str = "/dev/sda"

    def ref(self) -> dict:
        return entity_ref(
            "linode_config", self.id, self.label, f"/linode/instances/{self.linode_id}/configs/{self.id}"
        )

    def free_slot(self) -> str | None:
        """The first device slot with nothing in it."""
        return next((slot for slot in device_slots(self.slots) if not self.devices.get(slot)), None)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "kernel": self.kernel,
            "comments": self.comments,
            "memory_limit": 0,
            "run_level": "default",
            "virt_mode": "paravirt",
            "root_device": self.root_device,
            "initrd": None,
            "interfaces": [],
            "helpers": {
                "updatedb_disabled": True,
                "distro": True,
                "modules_dep": True,
                "network": True,
                "devtmpfs_automount": True,
            },
            "devices": {slot: self.devices.get(slot) for slot in device_slots(self.slots)},
            "created": self.created,
            "updated": self.updated,
        }


@dataclass
class Image:
    """A private image captured from a disk (``id`` is ``private/<n>``)."""

    id: str
    label: str
    description: str | None
    size: int
    status: str
    created: str
    updated: str
    capabilities: list[str]
    tags: list[str]
    regions: list[dict]
    created_by: str
    upload_region: str | None = None  # where an uploaded image becomes available (hidden)

    @property
    def url(self) -> str:
        return f"/images/{self.id}"

    def ref(self) -> dict:
        return entity_ref("image", self.id, self.label, self.url)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "created": self.created,
            "updated": self.updated,
            "created_by": self.created_by,
            "deprecated": False,
            "is_public": False,
            "size": self.size,
            "total_size": self.size * max(1, len(self.regions)),
            "type": "manual",
            "expiry": None,
            "eol": None,
            "vendor": None,
            "status": self.status,
            "capabilities": list(self.capabilities),
            "tags": list(self.tags),
            "regions": [dict(region) for region in self.regions],
        }


@dataclass
class Volume:
    """A Block Storage volume; attached when ``linode_id`` is set."""

    id: int
    label: str
    region: str
    size: int
    status: str
    created: str
    updated: str
    tags: list[str] = field(default_factory=list)
    linode_id: int | None = None
    encryption: str = "disabled"

    @property
    def url(self) -> str:
        return f"/volumes/{self.id}"

    def ref(self) -> dict:
        return entity_ref("volume", self.id, self.label, self.url)

    def filesystem_path(self) -> str:
        """Where the volume appears on its Linode."""
        return f"/dev/disk/by-id/scsi-0Linode_Volume_{self.label}"

    def to_json(self, linode_label: str | None) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "status": self.status,
            "size": self.size,
            "region": self.region,
            "linode_id": self.linode_id,
            "linode_label": linode_label,
            "filesystem_path": self.filesystem_path(),
            "hardware_type": "nvme",
            "encryption": self.encryption,
            "created": self.created,
            "updated": self.updated,
            "tags": list(self.tags),
        }


@dataclass
class NodeBalancer:
    """A NodeBalancer; its configs and nodes are separate models."""

    id: int
    label: str
    region: str
    ipv4: str
    created: str
    updated: str
    tags: list[str] = field(default_factory=list)
    client_conn_throttle: int = 0
    client_udp_sess_throttle: int = 0
    type: str = "common"
    backend_connectivity: str = "ipv4"

    @property
    def url(self) -> str:
        return f"/nodebalancers/{self.id}"

    def ref(self) -> dict:
        return entity_ref("nodebalancer", self.id, self.label, self.url)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "region": self.region,
            "hostname": self.ipv4.replace(".", "-") + ".ip.linodeusercontent.com",
            "ipv4": self.ipv4,
            "ipv6": None,
            "created": self.created,
            "updated": self.updated,
            "client_conn_throttle": self.client_conn_throttle,
            "client_udp_sess_throttle": self.client_udp_sess_throttle,
            "type": self.type,
            "backend_connectivity": self.backend_connectivity,
            "backend_ipv6_prefix": None,
            "transfer": {"in": None, "out": None, "total": None},
            "tags": list(self.tags),
        }


NODEBALANCER_CONFIG_DEFAULTS = {
    "port": 80,
    "protocol": "http",
    "algorithm": "roundrobin",
    "stickiness": "none",
    "check": "none",
    "check_interval": 31,
    "check_timeout": 30,
    "check_attempts": 3,
    "check_path": "",
    "check_body": "",
    "check_passive": True,
    "proxy_protocol": "none",
    "cipher_suite": "recommended",
    "ssl_cert": None,
    "ssl_key": None,
    "udp_check_port": 80,
}
# Seconds an idle UDP session lives (read-only; the value linode_api4's own integration tests expect).
UDP_SESSION_TIMEOUT = 2


@dataclass
class NodeBalancerConfig:
    """One port of a NodeBalancer; ``settings`` holds the NODEBALANCER_CONFIG_DEFAULTS keys."""

    id: int
    nodebalancer_id: int
    settings: dict

    def to_json(self, nodes: list[NodeBalancerNode]) -> dict:
        body = {"id": self.id, "nodebalancer_id": self.nodebalancer_id, **NODEBALANCER_CONFIG_DEFAULTS, **self.settings}
        body["ssl_cert"] = "<REDACTED>" if self.settings.get("ssl_cert") else None
        body["ssl_key"] = "<REDACTED>" if self.settings.get("ssl_key") else None
        body["udp_session_timeout"] = UDP_SESSION_TIMEOUT
        body["ssl_commonname"] = ""
        body["ssl_fingerprint"] = ""
        body["nodes_status"] = {
            "up": sum(node.status == "UP" for node in nodes),
            "down": sum(node.status == "DOWN" for node in nodes),
        }
        return body


@dataclass
class NodeBalancerNode:
    """A backend of a NodeBalancer config; ``address`` is ``<private ip>:<port>``."""

    id: int
    config_id: int
    nodebalancer_id: int
    label: str
    address: str
    weight: int = 100
    mode: str = "accept"
    status: str = "unknown"

    def ref(self) -> dict:
        url = f"/nodebalancers/{self.nodebalancer_id}/configs/{self.config_id}/nodes/{self.id}"
        return entity_ref("nodebalancer_node", self.id, self.label, url)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "config_id": self.config_id,
            "nodebalancer_id": self.nodebalancer_id,
            "label": self.label,
            "address": self.address,
            "weight": self.weight,
            "mode": self.mode,
            "status": self.status,
        }


@dataclass
class Job:
    """The pending part of an event: when it started, when it is due, how often it was read.

    ``start_at``/``finish_at`` are absolute wall-clock seconds so a restarted emulator carries on.
    ``params`` are what the finishing step needs (e.g. the image of a capture); ``fails`` decides the
    outcome at the start (injected boot/capture failures).
    """

    start_at: float
    finish_at: float
    reads: int = 0
    fails: bool = False
    params: dict = field(default_factory=dict)


@dataclass
class Event:
    """An account event; ``job`` is set while it is scheduled or started. ``message`` is a string, empty when
    there is nothing to add (linode_api4's ``EventError`` reads an empty message as none)."""

    id: int
    action: str
    entity: dict
    secondary_entity: dict | None
    status: str
    created: str
    percent_complete: int | None = None
    message: str = ""
    duration: float = 0.0
    job: Job | None = None

    @classmethod
    def from_state(cls, state: dict) -> Event:
        job = state.get("job")
        # States saved before messages were always strings hold null for "no message".
        return cls(**{**state, "message": state.get("message") or "", "job": Job(**job) if job else None})

    def concerns(self, kind: str, ids) -> bool:
        """True when this event's entity or secondary entity is one of these objects."""
        return any(
            ref is not None and ref["type"] == kind and ref["id"] in ids
            for ref in (self.entity, self.secondary_entity)
        )

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "action": self.action,
            "created": self.created,
            "entity": wire_ref(self.entity),
            "secondary_entity": wire_ref(self.secondary_entity),
            "status": self.status,
            "percent_complete": self.percent_complete,
            "message": self.message,
            "duration": self.duration,
            "rate": None,
            "time_remaining": None,
            "read": False,
            "seen": False,
            "username": "emulator",
        }


def to_state(model) -> dict:
    """The persisted form of a model: every field, including the hidden ones (a shallow copy)."""
    state = dict(vars(model))
    if isinstance(state.get("job"), Job):
        state["job"] = dict(vars(state["job"]))
    return state
