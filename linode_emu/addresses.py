"""IP addresses of Linodes: how they are handed out, and their reads (``GET /linode/instances/{id}/ips``,
``GET /networking/ips/{address}``). ``AddressFamily`` is mixed into the ``Backend`` facade.

A Linode's first IPv4 is a loopback address (see :func:`loopback_address`), shown as its public address;
with ``private_ip`` it also gets a private one in Linode's 192.168.128.0/17. Machines are reached on the
loopback address only: the private address is recorded, never bound.
"""

from __future__ import annotations

import ipaddress

from linode_emu.errors import not_found
from linode_emu.models import Instance
from linode_emu.verbs import reads

PRIVATE_NETWORK = ipaddress.ip_network("192.168.128.0/17")
_PRIVATE_MASK = str(PRIVATE_NETWORK.netmask)


def loopback_address(n: int) -> str:
    """The n-th address handed out: 127.0.1.1, 127.0.1.2, ... (never 127.0.0.x, never .0/.255).

    Loopback addresses rather than 192.168.x.y because emulated machines bind to them for real on the
    host, where all of 127.0.0.0/8 reaches the host itself.
    """
    block, host = divmod(n, 254)
    second, third = divmod(block, 255)
    return f"127.{second}.{third + 1}.{host + 1}"


def private_address(n: int) -> str:
    """The n-th private address of Linode's 192.168.128.0/17: 192.168.128.1, ... (never .0/.255)."""
    block, host = divmod(n, 254)
    return f"192.168.{128 + block % 128}.{host + 1}"


def is_private(address: str) -> bool:
    return ipaddress.ip_address(address) in PRIVATE_NETWORK


def _ipv4_json(instance: Instance, address: str) -> dict:
    """An IPAddress object for one IPv4 of ``instance``."""
    private = is_private(address)
    network = ipaddress.ip_interface(f"{address}/{17 if private else 24}").network
    return {
        "address": address,
        "gateway": None if private else str(network.network_address + 1),
        "subnet_mask": _PRIVATE_MASK if private else str(network.netmask),
        "prefix": network.prefixlen,
        "type": "ipv4",
        "public": not private,
        "rdns": None if private else address.replace(".", "-") + ".ip.linodeusercontent.com",
        "linode_id": instance.id,
        "interface_id": None,
        "region": instance.region,
        "vpc_nat_1_1": None,
    }


def _ipv6_json(instance: Instance, address: str, public: bool) -> dict:
    return {
        "address": address,
        "gateway": "fe80::1",
        "subnet_mask": "ffff:ffff:ffff:ffff::",
        "prefix": 64,
        "type": "ipv6",
        "public": public,
        "rdns": None,
        "linode_id": instance.id,
        "interface_id": None,
        "region": instance.region,
        "vpc_nat_1_1": None,
    }


def instance_addresses(instance: Instance) -> dict:
    """``GET /linode/instances/{id}/ips``: the addresses of ``instance`` by kind."""
    ipv4 = [_ipv4_json(instance, address) for address in instance.ipv4]
    return {
        "ipv4": {
            "public": [ip for ip in ipv4 if ip["public"]],
            "private": [ip for ip in ipv4 if not ip["public"]],
            "shared": [],
            "reserved": [],
            "vpc": [],
        },
        "ipv6": {
            "slaac": _ipv6_json(instance, instance.ipv6_address, public=True),
            "link_local": _ipv6_json(instance, f"fe80::{instance.id:x}", public=False),
            "global": [],
        },
    }


class AddressFamily:
    """Reads of the IP addresses of the account's Linodes."""

    @reads
    def list_instance_ips(self, linode_id: int) -> dict:
        self._advance()
        return instance_addresses(self._instance(linode_id))

    @reads
    def get_ip(self, address: str) -> dict:
        """``GET /networking/ips/{address}``: an IPv4 or SLAAC IPv6 of one of the account's Linodes."""
        self._advance()
        for instance in self._instances.values():
            ips = instance_addresses(instance)
            found = [*ips["ipv4"]["public"], *ips["ipv4"]["private"], ips["ipv6"]["slaac"]]
            for ip in found:
                if ip["address"] == address:
                    return ip
        raise not_found()
