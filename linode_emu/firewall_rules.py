"""A Cloud Firewall's rules: checked against the spec's ``FirewallRuleConfig`` and kept as sent (pure).

``check_rules`` takes the JSON object of a request (``rules`` of a create, or the whole body of
``PUT .../rules``) and returns the rules to store, or raises ``EmuApiError`` 400 naming the request
field at fault by its path, e.g. ``rules.inbound[0].ports``. The rules of the spec (4.176):

- ``inbound_policy`` / ``outbound_policy``: ACCEPT or DROP (required when a Firewall is created);
- ``inbound`` / ``outbound``: lists of rules, at most 25 rules in all;
- a rule: ``action`` ACCEPT|DROP, ``protocol`` TCP|UDP|ICMP|IPENCAP and ``addresses`` are required;
  ``ports`` (TCP and UDP only; none means every port) is one port, a range, or a comma-separated list of
  them (a space may follow each comma), ports 1-65535 without leading zeroes, a range's end above its
  start, at most 15 pieces where a range counts two; ``addresses`` holds ``ipv4`` and/or ``ipv6``, each a
  non-empty list of networks in IP/mask form, at most 255 in all; ``label`` 3-32 and ``description``
  1-100 characters.

A rule is returned with the keys it was sent with (a rule without ports has no ``ports``; addresses
without ``ipv6`` have no ``ipv6``); unknown keys are dropped. The API's own error wording for these
checks is not documented; the reasons here say what the spec says.
"""

from __future__ import annotations

import ipaddress
import re

from linode_emu.errors import EmuApiError, invalid

POLICIES = ("ACCEPT", "DROP")
PROTOCOLS = ("TCP", "UDP", "ICMP", "IPENCAP")
PORTLESS_PROTOCOLS = ("ICMP", "IPENCAP")
DIRECTIONS = ("inbound", "outbound")
MAX_RULES = 25
MAX_ADDRESSES = 255
MAX_PORT_PIECES = 15
_NUMBER = re.compile(r"^[0-9]+$")


def check_rules(rules: dict, prefix: str = "", require_policies: bool = True, current: dict | None = None) -> dict:
    """The rules to store from a request's rules object; ``prefix`` is the object's path with its dot
    (``"rules."`` in a create). Without ``require_policies`` a missing policy keeps the ``current`` one."""
    checked: dict = {}
    for direction in DIRECTIONS:
        policy_name = f"{direction}_policy"
        policy = rules.get(policy_name)
        if policy is None:
            if require_policies or current is None:
                raise invalid(prefix + policy_name, f"{policy_name} is required")
            policy = current[policy_name]
        _check_choice(prefix + policy_name, policy, POLICIES)
        listed = rules.get(direction)
        if listed is None:
            listed = []
        if not isinstance(listed, list):
            raise invalid(prefix + direction, f"{direction} must be a list of rules")
        checked[direction] = [_check_rule(f"{prefix}{direction}[{n}]", rule) for n, rule in enumerate(listed)]
        checked[policy_name] = policy
    if sum(len(checked[direction]) for direction in DIRECTIONS) > MAX_RULES:
        reason = f"A Firewall may have up to {MAX_RULES} rules across its inbound and outbound rulesets"
        raise EmuApiError(400, reason, prefix.rstrip(".") or None)
    return checked


def _check_rule(field: str, rule) -> dict:
    if not isinstance(rule, dict):
        raise invalid(field, "A rule must be an object")
    action = _required(rule, field, "action")
    _check_choice(f"{field}.action", action, POLICIES)
    protocol = _required(rule, field, "protocol")
    _check_choice(f"{field}.protocol", protocol, PROTOCOLS)
    checked = {"action": action, "protocol": protocol}
    ports = rule.get("ports")
    if ports is not None:
        if protocol in PORTLESS_PROTOCOLS:
            raise invalid(f"{field}.ports", "Ports are not allowed for the ICMP and IPENCAP protocols")
        check_ports(f"{field}.ports", ports)
        checked["ports"] = ports
    checked["addresses"] = _check_addresses(f"{field}.addresses", _required(rule, field, "addresses"))
    for name, low, high in (("label", 3, 32), ("description", 1, 100)):
        value = rule.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not low <= len(value) <= high:
            raise invalid(f"{field}.{name}", f"{name} must be a string of {low}-{high} characters")
        checked[name] = value
    return checked


def check_ports(field: str, ports) -> None:
    """``"22"``, ``"80-90"``, ``"22, 80-90, 443"``: ports 1-65535 without leading zeroes, ascending
    ranges, at most MAX_PORT_PIECES pieces (a range counts two)."""
    if not isinstance(ports, str) or not ports:
        raise invalid(field, "ports must be a non-empty string")
    pieces = 0
    for index, part in enumerate(ports.split(",")):
        item = part[1:] if index and part.startswith(" ") else part
        bounds = item.split("-")
        if len(bounds) > 2 or not all(_NUMBER.match(bound) for bound in bounds):
            raise invalid(field, "ports must be a port, a range of ports (80-90), or a comma-separated list of them")
        for bound in bounds:
            if len(bound) > 1 and bound.startswith("0"):
                raise invalid(field, f"Port {bound} has a leading zero")
            if not 1 <= int(bound) <= 65535:
                raise invalid(field, "Ports must be within 1 and 65535")
        if len(bounds) == 2 and int(bounds[1]) <= int(bounds[0]):
            raise invalid(field, f"The end of the range {item} must be greater than its start")
        pieces += len(bounds)
    if pieces > MAX_PORT_PIECES:
        raise invalid(field, f"ports may have up to {MAX_PORT_PIECES} pieces (a range counts as two)")


def _check_addresses(field: str, addresses) -> dict:
    if not isinstance(addresses, dict):
        raise invalid(field, "addresses must be an object")
    checked = {}
    for family, version in (("ipv4", 4), ("ipv6", 6)):
        networks = addresses.get(family)
        if networks is None:
            continue
        if not isinstance(networks, list) or not networks:
            raise invalid(f"{field}.{family}", f"{family} must be a non-empty list of networks")
        for n, network in enumerate(networks):
            _check_network(f"{field}.{family}[{n}]", network, version)
        checked[family] = list(networks)
    if not checked:
        raise invalid(field, "addresses must contain ipv4, ipv6, or both")
    if sum(len(networks) for networks in checked.values()) > MAX_ADDRESSES:
        raise invalid(field, f"A rule may list up to {MAX_ADDRESSES} addresses or networks")
    return checked


def _check_network(field: str, network, version: int) -> None:
    """An IPv<version> address or network in IP/mask format (no zone id)."""
    reason = f"Must be an IPv{version} address or network in IP/mask format, like " + (
        "192.0.2.0/24" if version == 4 else "2001:db8::/32"
    )
    if not isinstance(network, str) or "/" not in network or "%" in network:
        raise invalid(field, reason)
    try:
        parsed = ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise invalid(field, reason) from None
    if parsed.version != version:
        raise invalid(field, reason)


def _required(rule: dict, field: str, name: str):
    value = rule.get(name)
    if value is None:
        raise invalid(f"{field}.{name}", f"{name} is required")
    return value


def _check_choice(field: str, value, choices) -> None:
    if value not in choices:
        raise invalid(field, f"Must be one of {', '.join(choices)}")
