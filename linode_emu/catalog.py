"""The read-only catalogue: regions, Linode types and public images.

Values follow the shapes of the OpenAPI spec (Region, LinodeType, Image) with realistic numbers.
"""

from __future__ import annotations

_CAPABILITIES = ["Linodes", "NodeBalancers", "Block Storage", "Object Storage", "Metadata"]

REGIONS = [
    {
        "id": "us-east",
        "label": "Newark, NJ",
        "country": "us",
        "capabilities": _CAPABILITIES,
        "status": "ok",
        "resolvers": {"ipv4": "192.0.2.10,192.0.2.11", "ipv6": "2001:db8:0:1::a,2001:db8:0:1::b"},
    },
    {
        "id": "us-central",
        "label": "Dallas, TX",
        "country": "us",
        "capabilities": _CAPABILITIES,
        "status": "ok",
        "resolvers": {"ipv4": "192.0.2.20,192.0.2.21", "ipv6": "2001:db8:0:2::a,2001:db8:0:2::b"},
    },
    {
        "id": "eu-west",
        "label": "London, UK",
        "country": "gb",
        "capabilities": _CAPABILITIES,
        "status": "ok",
        "resolvers": {"ipv4": "192.0.2.30,192.0.2.31", "ipv6": "2001:db8:0:3::a,2001:db8:0:3::b"},
    },
]


def _linode_type(type_id, label, type_class, memory, vcpus, disk, transfer, hourly, monthly, backups):
    return {
        "id": type_id,
        "label": label,
        "class": type_class,
        "disk": disk,
        "memory": memory,
        "vcpus": vcpus,
        "gpus": 0,
        "transfer": transfer,
        "network_out": transfer,
        "price": {"hourly": hourly, "monthly": monthly},
        "region_prices": [],
        "addons": {"backups": {"price": {"hourly": backups[0], "monthly": backups[1]}, "region_prices": []}},
        "successor": None,
    }


TYPES = [
    _linode_type("g6-nanode-1", "Nanode 1GB", "nanode", 1024, 1, 25600, 1000, 0.0075, 5.0, (0.003, 2.0)),
    _linode_type("g6-standard-1", "Linode 2GB", "standard", 2048, 1, 51200, 2000, 0.018, 12.0, (0.004, 2.5)),
    _linode_type("g6-standard-2", "Linode 4GB", "standard", 4096, 2, 81920, 4000, 0.036, 24.0, (0.008, 5.0)),
]


def _public_image(image_id, label, vendor, size, created, eol):
    return {
        "id": image_id,
        "label": label,
        "description": None,
        "created": created,
        "updated": created,
        "created_by": "linode",
        "deprecated": False,
        "is_public": True,
        "size": size,
        "total_size": size,
        "type": "manual",
        "expiry": None,
        "eol": eol,
        "vendor": vendor,
        "status": "available",
        "capabilities": ["cloud-init"],
        "tags": [],
        "regions": [],
    }


PUBLIC_IMAGES = [
    _public_image(
        "linode/debian12", "Debian 12", "Debian", 1300, "2023-06-12T14:55:27", "2028-06-30T04:00:00"
    ),
    _public_image(
        "linode/debian11", "Debian 11", "Debian", 1100, "2021-08-14T22:44:02", "2026-08-31T04:00:00"
    ),
    _public_image(
        "linode/ubuntu24.04", "Ubuntu 24.04 LTS", "Ubuntu", 2500, "2024-04-25T16:10:49", "2029-05-31T04:00:00"
    ),
]


def find(collection: list[dict], item_id: str) -> dict | None:
    """The catalogue entry with this id, or None."""
    return next((item for item in collection if item["id"] == item_id), None)
