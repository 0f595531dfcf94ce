#!/usr/bin/env python3
"""Derive the compact Linode object schema used by the emulator schema test.

Usage (from the repo root)::

    .venv/bin/python tools/derive_linode_schema.py PATH/TO/linode-openapi-4.176.yaml \
        [-o tests/data/linode_schema.json]

Reads the Linode API v4 OpenAPI spec and writes, for every object kind the emulator serves, the
property names with their JSON type(s), enum values and date-time format, with ``$ref`` and
``allOf`` resolved and nested objects/arrays expanded. The spec lists no ``required`` keys for these
objects; a property is optional in the output only when the spec marks it ``deprecated`` or when it
is listed in ``ERRATA`` below (each entry quotes the spec's own prose). Dev tool only: stdlib + PyYAML.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "linode_schema.json"

# kind -> (components/schemas name, item GET endpoint or None, list GET endpoint)
KINDS: dict[str, tuple[str, str | None, str]] = {
    "Linode": ("Linode", "/linode/instances/{linodeId}", "/linode/instances"),
    "Disk": ("Disk", "/linode/instances/{linodeId}/disks/{diskId}", "/linode/instances/{linodeId}/disks"),
    "Config": (
        "LinodeConfig",
        "/linode/instances/{linodeId}/configs/{configId}",
        "/linode/instances/{linodeId}/configs",
    ),
    "Image": ("Image", "/images/{imageId}", "/images"),
    "Volume": ("Volume", "/volumes/{volumeId}", "/volumes"),
    "NodeBalancer": ("NodeBalancer", "/nodebalancers/{nodeBalancerId}", "/nodebalancers"),
    "NodeBalancerConfig": (
        "NodeBalancerConfig",
        "/nodebalancers/{nodeBalancerId}/configs/{configId}",
        "/nodebalancers/{nodeBalancerId}/configs",
    ),
    "NodeBalancerNode": (
        "NodeBalancerNode",
        "/nodebalancers/{nodeBalancerId}/configs/{configId}/nodes/{nodeId}",
        "/nodebalancers/{nodeBalancerId}/configs/{configId}/nodes",
    ),
    "Event": ("Event", "/account/events/{eventId}", "/account/events"),
    "Region": ("Region", "/regions/{regionId}", "/regions"),
    "Type": ("LinodeType", "/linode/types/{typeId}", "/linode/types"),
    # GET /tags/{label} answers the tagged objects, not a Tag: only the list serves Tag objects.
    "Tag": ("Tag", None, "/tags"),
    "Firewall": ("Firewall", "/networking/firewalls/{firewallId}", "/networking/firewalls"),
    "FirewallDevice": (
        "FirewallDevices",
        "/networking/firewalls/{firewallId}/devices/{deviceId}",
        "/networking/firewalls/{firewallId}/devices",
    ),
}

# Kinds that are a part of a component, served alone by an item endpoint: kind -> (pointer, GET endpoint).
FRAGMENTS: dict[str, tuple[str, str]] = {
    "FirewallRules": ("#/components/schemas/Firewall/properties/rules", "/networking/firewalls/{firewallId}/rules"),
}

# Where the spec's schema contradicts its own prose (the quoted description), applied after
# resolution: (note label, paths, changes). A path is the kind, then property names; "[]" steps into
# array items. Changes: ``nullable``, ``optional``, ``types`` (JSON types admitted beside the spec's).
_SLOTS = ("sda", "sdb", "sdc", "sdd", "sde", "sdf", "sdg", "sdh")
ERRATA: list[tuple[str, list[tuple[str, ...]], dict]] = [
    (
        'Error.errors[].field nullable, optional: \'In some cases this may come back as "null" if the '
        "error is not specific to any single element of the request.'",
        [("Error", "errors", "[]", "field")],
        {"nullable": True, "optional": True},
    ),
    (
        "Event.percent_complete nullable: 'Returns `null` for notification events.'",
        [("Event", "percent_complete")],
        {"nullable": True},
    ),
    (
        "Event.rate nullable: 'Only some Events will return rate; for example, migration and resize Events.'",
        [("Event", "rate")],
        {"nullable": True},
    ),
    (
        "Event.secondary_entity nullable: 'provides additional information for events such as, but not "
        "limited to, `linode_boot`, `linode_reboot`, `linode_create`, and `linode_clone`' (none: null)",
        [("Event", "secondary_entity")],
        {"nullable": True},
    ),
    (
        "Event.secondary_entity.id integer or string: 'The ID of the object that is the secondary entity' - an "
        "object's id is an integer (recorded real disk_imagize: {\"id\": 30000001, \"type\": \"image\"}), a "
        "public image's a string (the spec's example 'linode/debian9')",
        [("Event", "secondary_entity", "id")],
        {"types": ["integer", "string"]},
    ),
    (
        "Linode.backups.last_successful nullable: \"'null' if there was no previous backup.\"",
        [("Linode", "backups", "last_successful")],
        {"nullable": True},
    ),
    (
        "Config.interfaces[].ipv4 nullable: 'Returns `null` if no `vpc` Interface is assigned.'",
        [("Config", "interfaces", "[]", "ipv4")],
        {"nullable": True},
    ),
    (
        "Config.devices.sd[a-h] nullable: 'Device can be either a Disk or Volume ... Can be null.'",
        [("Config", "devices", slot) for slot in _SLOTS],
        {"nullable": True},
    ),
    (
        "Config.devices.sd[a-h].disk_id/volume_id nullable: 'The Disk ID, or `null` if a Volume is "
        "assigned to this slot.' (and the reverse)",
        [("Config", "devices", slot, key) for slot in _SLOTS for key in ("disk_id", "volume_id")],
        {"nullable": True},
    ),
    (
        "FirewallRuleConfig ports, label, description optional: the create and update requests require "
        "only 'action, addresses, protocol'; ports: 'If no ports are configured, all ports are affected ... "
        "Ports are not allowed for the ICMP and IPENCAP protocols.' (a rule is returned as it was sent)",
        [
            (*rules, direction, "[]", key)
            for rules in (("Firewall", "rules"), ("FirewallRules",))
            for direction in ("inbound", "outbound")
            for key in ("ports", "label", "description")
        ],
        {"optional": True},
    ),
    (
        "FirewallRuleConfig.addresses.ipv4/ipv6 optional: 'Must contain `ipv4`, `ipv6`, or both.'",
        [
            (*rules, direction, "[]", "addresses", family)
            for rules in (("Firewall", "rules"), ("FirewallRules",))
            for direction in ("inbound", "outbound")
            for family in ("ipv4", "ipv6")
        ],
        {"optional": True},
    ),
]


# Fields of today's API that spec 4.176 predates but that the pinned linode_api4 (5.48) reads and the
# project relies on (image tags carry fleet and version): (note label, kind, property, compact schema).
ADDITIONS: list[tuple[str, str, str, dict]] = [
    ("Image.tags: tags on images (linode_api4 5.48 Image.tags)", "Image", "tags",
     {"type": ["array"], "items": {"type": ["string"]}}),
    ("Image.total_size: size over all regions (linode_api4 5.48 Image.total_size)", "Image", "total_size",
     {"type": ["integer"]}),
    ("Image.regions: where the image is replicated (linode_api4 5.48 Image.regions)", "Image", "regions",
     {"type": ["array"], "items": {"type": ["object"]}}),
    ("Config.created (linode_api4 5.48 Config.created)", "Config", "created",
     {"type": ["string"], "format": "date-time"}),
    ("Config.updated (linode_api4 5.48 Config.updated)", "Config", "updated",
     {"type": ["string"], "format": "date-time"}),
    ("Config.initrd: the initrd disk id, null for none (linode_api4 5.48 Config.initrd)", "Config", "initrd",
     {"type": ["integer", "null"]}),
    ("Region.site_type: core or distributed (linode_api4 5.48 Region.site_type; their tests pick core regions)",
     "Region", "site_type", {"type": ["string"], "enum": ["core", "distributed"]}),
    ("Linode.disk_encryption: enabled or disabled (linode_api4 5.48 Instance.disk_encryption)", "Linode",
     "disk_encryption", {"type": ["string"], "enum": ["enabled", "disabled"]}),
    ("Linode.capabilities: e.g. Block Storage Encryption (linode_api4 5.48 Instance.capabilities)", "Linode",
     "capabilities", {"type": ["array"], "items": {"type": ["string"]}}),
    ("Disk.disk_encryption: enabled or disabled (linode_api4 5.48 Disk.disk_encryption)", "Disk",
     "disk_encryption", {"type": ["string"], "enum": ["enabled", "disabled"]}),
    ("Volume.encryption: enabled or disabled (linode_api4 5.48 Volume.encryption)", "Volume", "encryption",
     {"type": ["string"], "enum": ["enabled", "disabled"]}),
    ("NodeBalancer.type: common or premium (linode_api4 5.48 NodeBalancer.type)", "NodeBalancer", "type",
     {"type": ["string"], "enum": ["common", "premium"]}),
    ("NodeBalancer.client_udp_sess_throttle: UDP sessions per second per client, 0-20 (linode_api4 5.48)",
     "NodeBalancer", "client_udp_sess_throttle", {"type": ["integer"]}),
    ("NodeBalancer.backend_connectivity: ipv4 or ipv6 (linode_api4 5.48 NodeBalancer.backend_connectivity)",
     "NodeBalancer", "backend_connectivity", {"type": ["string"], "enum": ["ipv4", "ipv6"]}),
    ("NodeBalancer.backend_ipv6_prefix: null unless the backends are reached over IPv6 (linode_api4 5.48)",
     "NodeBalancer", "backend_ipv6_prefix", {"type": ["string", "null"]}),
    ("NodeBalancerConfig.udp_check_port: the port of UDP health checks (linode_api4 5.48)", "NodeBalancerConfig",
     "udp_check_port", {"type": ["integer"]}),
    ("NodeBalancerConfig.udp_session_timeout: idle seconds of a UDP session, read-only (linode_api4 5.48)",
     "NodeBalancerConfig", "udp_session_timeout", {"type": ["integer"]}),
    ("FirewallRules.version: 1 at create, one more at each rules update (linode_api4 5.48 rules.version)",
     "FirewallRules", "version", {"type": ["integer"]}),
    ("FirewallRules.fingerprint: a digest of the rules (linode_api4 5.48 rules.fingerprint)", "FirewallRules",
     "fingerprint", {"type": ["string"]}),
]

# The same additions inside a kind that embeds another: (kind, property, kind whose ADDITIONS it takes).
EMBEDDED_ADDITIONS: list[tuple[str, str, str]] = [("Firewall", "rules", "FirewallRules")]


# Enum values of today's API that spec 4.176 predates: (note label, path as in ERRATA, values).
ENUM_ADDITIONS: list[tuple[str, tuple[str, ...], list[str]]] = [
    (
        "Event.action firewall_rules_update: the event of PUT /networking/firewalls/{id}/rules in today's "
        "API (its Event.action enum lists it beside firewall_update)",
        ("Event", "action"),
        ["firewall_rules_update"],
    ),
    (
        "Linode.status resizing: a cold resize in today's API (linode_api4's own tests wait for it)",
        ("Linode", "status"),
        ["resizing"],
    ),
    (
        "NodeBalancerConfig.protocol udp: UDP ports in today's API (linode_api4 5.48 udp_check_port)",
        ("NodeBalancerConfig", "protocol"),
        ["udp"],
    ),
    (
        "NodeBalancerConfig.algorithm ring_hash: the algorithm of UDP ports in today's API",
        ("NodeBalancerConfig", "algorithm"),
        ["ring_hash"],
    ),
    (
        "NodeBalancerConfig.stickiness session, source_ip: the stickiness of UDP ports in today's API",
        ("NodeBalancerConfig", "stickiness"),
        ["session", "source_ip"],
    ),
]


class Spec:
    def __init__(self, doc: dict):
        self.doc = doc

    def ref(self, pointer: str) -> dict:
        if not pointer.startswith("#/"):
            raise ValueError(f"external $ref not supported: {pointer}")
        node = self.doc
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def flatten(self, node: dict, seen: tuple[str, ...] = ()) -> dict:
        """Resolve $ref and allOf at this level (siblings of $ref are kept, as the spec uses them)."""
        node = dict(node)
        if "$ref" in node:
            pointer = node.pop("$ref")
            if pointer in seen:
                raise ValueError(f"recursive $ref {pointer}")
            target = self.flatten(self.ref(pointer), (*seen, pointer))
            node = {**target, **node}
        if "allOf" in node:
            parts = [self.flatten(p, seen) for p in node.pop("allOf")]
            merged: dict = {}
            for part in [*parts, node]:
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                merged.update(part)
                if props:
                    merged["properties"] = props
            node = merged
        for key in ("oneOf", "anyOf"):
            if key in node:
                raise ValueError(f"{key} is not supported by this compact schema")
        return node

    def compact(self, node: dict, where: str) -> dict:
        """The compact form of one (sub)schema: type list, enum, date-time format, nested shapes."""
        node = self.flatten(node)
        jtype = node.get("type")
        if jtype is None and "properties" in node:
            jtype = "object"
        elif jtype is None and "items" in node:
            jtype = "array"
        if jtype is None:
            raise ValueError(f"{where}: no type in the spec")
        out: dict = {"type": [jtype] + (["null"] if node.get("nullable") else [])}
        if "enum" in node:
            out["enum"] = [v for v in node["enum"] if v is not None]
        if node.get("format") == "date-time":
            out["format"] = "date-time"
        if node.get("deprecated"):
            out["deprecated"] = True
            out["optional"] = True
        if jtype == "object" and node.get("properties"):
            out["properties"] = {
                name: self.compact(sub, f"{where}.{name}") for name, sub in sorted(node["properties"].items())
            }
        if jtype == "array" and "items" in node:
            out["items"] = self.compact(node["items"], f"{where}[]")
        return out

    def get_200(self, path: str) -> dict:
        op = self.doc["paths"][path]["get"]
        return op["responses"]["200"]["content"]["application/json"]["schema"]


def list_envelope(spec: Spec, path: str, component: str) -> dict:
    """Check that a list endpoint answers the paginated envelope around `component`; return it."""
    env = spec.flatten(spec.get_200(path))
    items = env["properties"]["data"]["items"]
    if items.get("$ref") != f"#/components/schemas/{component}":
        raise ValueError(f"GET {path}: data items are {items}, expected {component}")
    compact = spec.compact(env, f"GET {path}")
    compact["properties"]["data"]["items"] = {"type": ["object"]}
    return compact


def derive(doc: dict, spec_path: str) -> dict:
    spec = Spec(doc)
    schemas = doc["components"]["schemas"]
    out: dict = {}
    envelopes = []
    for kind, (component, item_path, list_path) in KINDS.items():
        if component not in schemas:
            raise ValueError(f"{kind}: no components/schemas/{component}")
        if item_path is not None:
            item = spec.get_200(item_path)
            if item.get("$ref") != f"#/components/schemas/{component}":
                raise ValueError(f"GET {item_path} answers {item}, expected {component}")
        envelopes.append(list_envelope(spec, list_path, component))
        entry = spec.compact({"$ref": f"#/components/schemas/{component}"}, kind)
        entry["spec"] = f"#/components/schemas/{component}"
        entry["endpoints"] = [f"GET {p}" for p in (list_path, item_path) if p]
        out[kind] = entry
    for kind, (pointer, item_path) in FRAGMENTS.items():
        item = spec.get_200(item_path)
        if item.get("$ref") != pointer:
            raise ValueError(f"GET {item_path} answers {item}, expected {pointer}")
        entry = spec.compact({"$ref": pointer}, kind)
        entry["spec"] = pointer
        entry["endpoints"] = [f"GET {item_path}"]
        out[kind] = entry
    if any(e != envelopes[0] for e in envelopes):
        raise ValueError("list endpoints disagree on the pagination envelope")
    out["List"] = {
        **envelopes[0],
        "spec": "#/components/schemas/PaginationEnvelope + data[]",
        "endpoints": [f"GET {p}" for _, _, p in KINDS.values()],
    }
    error = spec.compact(
        doc["components"]["responses"]["ErrorResponse"]["content"]["application/json"]["schema"], "Error"
    )
    out["Error"] = {**error, "spec": "#/components/responses/ErrorResponse", "endpoints": ["any 4xx/5xx"]}

    for _, paths, changes in ERRATA:
        for path in paths:
            node = _node(out, path)
            node["type"] = [*node["type"], *(t for t in changes.get("types", ()) if t not in node["type"])]
            if changes.get("nullable") and "null" not in node["type"]:
                node["type"].append("null")
            if changes.get("optional"):
                node["optional"] = True

    for _, kind, name, schema in ADDITIONS:
        out[kind]["properties"][name] = schema
        for host, prop, embedded in EMBEDDED_ADDITIONS:
            if embedded == kind:
                out[host]["properties"][prop]["properties"][name] = schema

    for _, path, values in ENUM_ADDITIONS:
        node = _node(out, path)
        node["enum"] = [*node["enum"], *(value for value in values if value not in node["enum"])]

    version = doc["info"]["version"]
    out["_meta"] = {
        "derived_from": f"Linode API v4 OpenAPI spec {version} ({Path(spec_path).name})",
        "spec_version": version,
        "regenerate": f".venv/bin/python tools/derive_linode_schema.py PATH/TO/{Path(spec_path).name}",
        "notation": (
            "kind -> {type: JSON types ('null' when nullable), enum?, format?: date-time, properties?: "
            "{name: same}, items?: same, optional?: true}. Every listed property is expected to be "
            "present unless optional (spec-deprecated or an erratum). A nullable enum also admits null."
        ),
        "errata": [label for label, _, _ in ERRATA],
        "additions": [label for label, _, _, _ in ADDITIONS] + [label for label, _, _ in ENUM_ADDITIONS],
    }
    return out


def _node(out: dict, path: tuple[str, ...]) -> dict:
    """The schema node at ``path``: a kind, then property names; "[]" steps into array items."""
    node = out[path[0]]
    for step in path[1:]:
        node = node["items"] if step == "[]" else node["properties"][step]
    return node


def _render(value, level: int, column: int, width: int = 110) -> str:
    """JSON with sorted keys, two spaces a level; a value stays on one line when it fits in `width`."""
    flat = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if column + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = "  " * (level + 1)
    if isinstance(value, list):
        body = ",\n".join(pad + _render(v, level + 1, len(pad), width) for v in value)
        return "[\n" + body + "\n" + "  " * level + "]"
    lines = []
    for key in sorted(value):
        head = f"{pad}{json.dumps(key)}: "
        lines.append(head + _render(value[key], level + 1, len(head), width))
    return "{\n" + ",\n".join(lines) + "\n" + "  " * level + "}"


def render(schema: dict) -> str:
    return _render(schema, 0, 0) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="path of the Linode OpenAPI spec (YAML)")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT), help="default: %(default)s")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    text = render(derive(doc, args.spec))
    json.loads(text)  # the renderer must stay valid JSON
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.splitlines())} lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
