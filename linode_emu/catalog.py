"""The read-only catalogue: regions, Linode types and public images.

Values follow the shapes of the OpenAPI spec (Region, LinodeType, Image) with realistic numbers.
"""

from __future__ import annotations

# Today's names (linode_api4 5.48 ``Capability``) of what the emulator serves in every region.
_CAPABILITIES = [
    "Linodes",
    "Disk Encryption",
    "NodeBalancers",
    "Block Storage",
    "Block Storage Encryption",
    "Object Storage",
    "Cloud Firewall",
    "Metadata",
]

def _region(region_id, label, country, resolver_octet):
    return {
        "id": region_id,
        "label": label,
        "country": country,
        "capabilities": list(_CAPABILITIES),
        "status": "ok",
        "site_type": "core",
        "resolvers": {
            "ipv4": f"192.0.2.{resolver_octet},192.0.2.{resolver_octet + 1}",
            "ipv6": f"2001:db8:0:{resolver_octet // 10}::a,2001:db8:0:{resolver_octet // 10}::b",
        },
    }


REGIONS = [
    _region("us-east", "Newark, NJ", "us", 10),
    _region("us-central", "Dallas, TX", "us", 20),
    _region("eu-west", "London, UK", "gb", 30),
    _region("br-gru", "Sao Paulo, BR", "br", 40),
]

# Regions whose prices differ from the base price (as on Linode, Sao Paulo costs more), by how much.
_REGION_PRICE_FACTORS = {"br-gru": 1.4}


def _price(hourly: float, monthly: float) -> dict:
    return {"hourly": hourly, "monthly": monthly}


def _region_prices(hourly: float, monthly: float) -> list[dict]:
    """The ``region_prices`` of something whose base price is ``hourly``/``monthly``."""
    return [
        {"id": region_id, **_price(round(hourly * factor, 5), round(monthly * factor, 2))}
        for region_id, factor in _REGION_PRICE_FACTORS.items()
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
        "price": _price(hourly, monthly),
        "region_prices": _region_prices(hourly, monthly),
        "addons": {"backups": {"price": _price(*backups), "region_prices": _region_prices(*backups)}},
        "successor": None,
    }


TYPES = [
    _linode_type("g6-nanode-1", "Nanode 1GB", "nanode", 1024, 1, 25600, 1000, 0.0075, 5.0, (0.003, 2.0)),
    _linode_type("g6-standard-1", "Linode 2GB", "standard", 2048, 1, 51200, 2000, 0.018, 12.0, (0.004, 2.5)),
    _linode_type("g6-standard-2", "Linode 4GB", "standard", 4096, 2, 81920, 4000, 0.036, 24.0, (0.008, 5.0)),
    _linode_type("g6-standard-4", "Linode 8GB", "standard", 8192, 4, 163840, 5000, 0.072, 48.0, (0.015, 10.0)),
    _linode_type("g6-standard-6", "Linode 16GB", "standard", 16384, 6, 327680, 8000, 0.144, 96.0, (0.03, 20.0)),
]


def _product_type(type_id: str, label: str, hourly: float, monthly: float) -> dict:
    """A priced product of ``/volumes/types`` or ``/nodebalancers/types`` (a volume's price is per GB)."""
    return {
        "id": type_id,
        "label": label,
        "price": _price(hourly, monthly),
        "region_prices": _region_prices(hourly, monthly),
        "transfer": 0,
    }


VOLUME_TYPES = [_product_type("volume", "Storage Volume", 0.00015, 0.1)]
NODEBALANCER_TYPES = [_product_type("nodebalancer", "NodeBalancer", 0.015, 10.0)]


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
