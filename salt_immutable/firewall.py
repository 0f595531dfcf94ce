"""The fleet's Cloud Firewall (``linode:firewall``): found, created and kept to spec; every builder,
candidate and server is created behind it (``firewall_id`` at create), and a server takes no traffic
before the API lists it as a device of the firewall.

An adopted firewall (by id or label) must exist and is never changed. A managed one (label and rules)
drops every inbound packet its rules do not accept: the app port (``tests:http``) from the NodeBalancers'
backend range and from the master, whose http gate checks each new server, plus the spec's rules.
"""

from __future__ import annotations

import ipaddress

from salt_immutable import names
from salt_immutable.errors import CheckFailed, NotFound, RollError

# NodeBalancers reach their backends from this range: the app port must accept it.
NODEBALANCER_BACKEND_NETWORK = "192.168.255.0/24"
RULE_KEYS = ("action", "protocol", "ports", "label")


def managed_rules(fleet, master_address):
    """PURE: the rules object (as the API takes it) a managed firewall of ``fleet`` must hold."""
    spec, http = fleet.linode.firewall, fleet.tests.http
    inbound = []
    if http is not None and fleet.nodebalancer is not None:
        inbound.append(_accept_tcp(http.port, ipv4=[NODEBALANCER_BACKEND_NETWORK], label="immutable-nodebalancer"))
    if http is not None and _is_ipv4(master_address):
        inbound.append(_accept_tcp(http.port, ipv4=[f"{master_address}/32"], label="immutable-http-gate"))
    inbound += [_api_rule(rule) for rule in spec.rules.inbound]
    return {
        "inbound": inbound,
        "inbound_policy": "DROP",
        "outbound": [_api_rule(rule) for rule in spec.rules.outbound],
        "outbound_policy": spec.rules.outbound_policy,
    }


def same_rules(current, wanted):
    """PURE: True when the API's ``current`` rules say what ``wanted`` says (ignoring version, fingerprint
    and empty fields the API adds)."""
    keys = ("inbound_policy", "outbound_policy")
    return (all(current.get(key) == wanted[key] for key in keys)
            and all(_rule_shapes(current.get(way) or []) == _rule_shapes(wanted[way])
                    for way in ("inbound", "outbound")))


def find_firewall(provider, fleet, master_address):
    """The fleet's firewall and the operations still needed to bring it to spec: ``(FirewallRef | None, [..])``.

    Reads only. A managed firewall that does not exist yet comes back as None with its create
    operation; an adopted one must exist, enabled, or :class:`RollError` says which.
    """
    spec = fleet.linode.firewall
    if spec is None:
        return None, []
    firewall = _lookup(provider, spec)
    if not spec.managed:
        if firewall is None:
            raise RollError(f"{fleet.name}: Cloud Firewall {spec.describe()} (linode:firewall) does not exist; "
                            "create it, or give {label, rules} to have it managed")
        _check_enabled(fleet, firewall)
        return firewall, []
    if firewall is None:
        return None, [f"create Cloud Firewall {spec.label} (inbound policy DROP, "
                      f"{len(managed_rules(fleet, master_address)['inbound'])} inbound rules)"]
    _check_enabled(fleet, firewall)
    if not same_rules(provider.firewall_rules(firewall.id), managed_rules(fleet, master_address)):
        return firewall, [f"update the rules of Cloud Firewall {spec.label} ({firewall.id}) to the spec's"]
    return firewall, []


def ensure_firewall(provider, fleet, master_address, say=None):
    """The fleet's firewall (None without ``linode:firewall``), creating a managed one or resetting its rules
    to the spec's when they differ."""
    firewall, missing = find_firewall(provider, fleet, master_address)
    if not missing:
        return firewall
    spec, rules = fleet.linode.firewall, managed_rules(fleet, master_address)
    if firewall is None:
        firewall = provider.create_firewall(spec.label, rules,
                                            tags=(names.PROJECT_TAG, names.fleet_tag(fleet.name)))
    else:
        provider.set_firewall_rules(firewall.id, rules)
    if say is not None:
        say(f"{missing[0]}: done ({firewall.id})")
    return firewall


def check_device(provider, firewall, server):
    """Raise :class:`CheckFailed` unless ``server`` is a device of the enabled ``firewall``."""
    held = {found.id: found for found in provider.instance_firewalls(server.id)}
    if firewall.id not in held:
        others = ", ".join(f"{f.label} ({f.id})" for f in held.values()) or "none"
        raise CheckFailed(f"{server.label} is not a device of Cloud Firewall {firewall.label} ({firewall.id}); "
                          f"its firewalls: {others}")
    if held[firewall.id].status != "enabled":
        raise CheckFailed(f"Cloud Firewall {firewall.label} ({firewall.id}) of {server.label} is "
                          f"{held[firewall.id].status}, not enabled")


def status(provider, fleet, servers):
    """The fleet's firewall as status shows it, with the ``servers`` that are not its devices (None without
    ``linode:firewall``). Reads only, and never per server."""
    spec = fleet.linode.firewall
    if spec is None:
        return None
    firewall = _lookup(provider, spec)
    if firewall is None:
        return {"id": spec.id, "label": spec.label, "managed": spec.managed, "status": "missing",
                "unprotected": sorted(server.label for server in servers)}
    devices = provider.firewall_linode_ids(firewall.id)
    return {"id": firewall.id, "label": firewall.label, "managed": spec.managed, "status": firewall.status,
            "unprotected": sorted(server.label for server in servers if server.id not in devices)}


def _lookup(provider, spec):
    """The firewall ``spec`` names, by label or id; None when there is none."""
    if spec.label is not None:
        return provider.find_firewall(spec.label)
    try:
        return provider.get_firewall(spec.id)
    except NotFound:
        return None


def _check_enabled(fleet, firewall):
    if firewall.status != "enabled":
        raise RollError(f"{fleet.name}: Cloud Firewall {firewall.label} ({firewall.id}) is {firewall.status}: "
                        "servers behind it would be unprotected; enable it")


def _accept_tcp(port, ipv4, label):
    return {"action": "ACCEPT", "protocol": "TCP", "ports": str(port), "addresses": {"ipv4": ipv4}, "label": label}


def _api_rule(rule):
    body = {"action": rule.action, "protocol": rule.protocol, "addresses": {}}
    for family in ("ipv4", "ipv6"):
        if getattr(rule.addresses, family):
            body["addresses"][family] = list(getattr(rule.addresses, family))
    for key in ("ports", "label"):
        if getattr(rule, key) is not None:
            body[key] = getattr(rule, key)
    return body


def _rule_shapes(rules):
    return [(tuple(rule.get(key) or None for key in RULE_KEYS),
             tuple(tuple(sorted((rule.get("addresses") or {}).get(family) or ())) for family in ("ipv4", "ipv6")))
            for rule in rules]


def _is_ipv4(address):
    try:
        return isinstance(ipaddress.ip_address(address), ipaddress.IPv4Address)
    except ValueError:
        return False
