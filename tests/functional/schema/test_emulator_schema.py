"""Every object the Linode emulator returns matches the schema derived from the Linode OpenAPI spec.

The schema is ``tests/data/linode_schema.json``, written by ``tools/derive_linode_schema.py`` from the
Linode API v4 OpenAPI spec (its ``_meta`` key names the spec version and the regeneration command);
this test reads only that file.

One module-scoped scenario drives the emulator over raw HTTP (``requests``) with immediate status
transitions: it lists regions, types and public images, creates an instance from ``linode/debian12``
(tags, root_pass), lets it run, shuts it down, captures an image from its root disk, creates
and attaches a volume, resizes the root disk, creates and clones a disk, creates and updates a config,
resizes and clones the volume, starts an image upload, creates a NodeBalancer with a config and a node,
creates a Cloud Firewall with the instance as a device, adds the NodeBalancer, replaces the rules,
creates a second instance with ``firewall_id``, and provokes errors. It then GETs every list and item
endpoint (regions, types, public and private images, instances, disks, configs, volumes (also per
instance), nodebalancers, their configs and nodes, firewalls, their rules, rule versions and devices, the
firewalls of an instance and of a NodeBalancer, tags and tagged objects, account events). Every object returned - by a
GET or by a create/attach answer - is recorded under its kind; every list answer is also recorded as a
``List`` envelope, and every error answer as an ``Error`` envelope.

The rule, per object and recursively for nested objects and array items:

* every key present must be a property of the kind in the spec, of one of its JSON types (``integer``
  also counts as ``number``; ``null`` only where the spec says nullable), and in its ``enum`` if the
  spec gives one; ``date-time`` strings must be ``YYYY-MM-DDTHH:MM:SS`` (what the live API sends and
  what linode_api4 parses);
* the spec lists no ``required`` keys for these objects, so every property the spec lists must be
  present, except those the spec marks ``deprecated`` (``Linode.group``) and those the derivation's
  errata mark optional (``Error.errors[].field``, sent only when a request field is at fault). Keys
  that the spec documents as sometimes ``null`` must then be sent as ``null``, not left out. The spec
  marks no beta-only properties on these objects.

The test is parametrized by kind so a failure names the kind; one assertion lists all of its
mismatches. Every kind must have been observed at least once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest
import requests

from linode_emu.server import EmulatorServer
from tests.functional.schema.validator import load_schema, summarize, validate
from tests.support.emulator import EMULATOR_DEFAULTS, EMULATOR_TOKEN
from tests.support.emulator_helpers import WEB_FIREWALL_RULES

SCHEMA = load_schema()
KINDS = sorted(k for k in SCHEMA if not k.startswith("_"))
OBJECT_KINDS = [k for k in KINDS if k not in ("List", "Error")]

REGION = "us-east"
TYPE = "g6-nanode-1"
IMAGE = "linode/debian12"
POLL_SECONDS = 5.0
# GET /tags/{label} answers {"type", "data"} items whose data is one of these kinds.
TAGGED_KINDS = {"linode": "Linode", "volume": "Volume", "nodebalancer": "NodeBalancer"}
FIREWALL_RULES = {
    **WEB_FIREWALL_RULES,
    "inbound": [
        *WEB_FIREWALL_RULES["inbound"],
        {"action": "ACCEPT", "protocol": "ICMP", "addresses": {"ipv4": ["0.0.0.0/0"]}},
    ],
    "outbound": [{"action": "DROP", "protocol": "UDP", "ports": "53", "addresses": {"ipv6": ["::/0"]}}],
}


class Recorder:
    """Raw HTTP against the emulator; records every returned object under its kind."""

    def __init__(self, api_url: str):
        self.api = api_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {EMULATOR_TOKEN}", "Accept": "application/json"})
        self.seen: dict[str, list[tuple[str, Any]]] = defaultdict(list)

    def call(
        self, method: str, path: str, kind: str | None, body: Any = None, expect: int = 200, **kw
    ) -> Any:
        resp = self.http.request(method, self.api + path, json=body, timeout=5, **kw)
        label = f"{method} {path}"
        assert resp.status_code == expect, f"{label}: HTTP {resp.status_code}, expected {expect}: {resp.text}"
        data = resp.json()
        if resp.status_code >= 400:
            self.seen["Error"].append((label, data))
        elif kind is not None:
            self.seen[kind].append((label, data))
        return data

    def get(self, path: str, kind: str, **kw) -> Any:
        return self.call("GET", path, kind, **kw)

    def post(self, path: str, kind: str | None, body: Any = None, **kw) -> Any:
        return self.call("POST", path, kind, body if body is not None else {}, **kw)

    def get_list(self, path: str, kind: str, **kw) -> list[dict]:
        """GET a collection: the envelope is a List; each element of `data` is a `kind`."""
        resp = self.http.get(self.api + path, timeout=5, **kw)
        label = f"GET {path}"
        assert resp.status_code == 200, f"{label}: HTTP {resp.status_code}: {resp.text}"
        env = resp.json()
        self.seen["List"].append((label, env))
        items = env.get("data") if isinstance(env, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            self.seen[kind].append((f"{label} data[{i}]", item))
        return items if isinstance(items, list) else []

    def wait(self, path: str, key: str, want: str) -> dict:
        """Poll an item (not recorded) until `key` == `want`; short polls only."""
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            obj = self.http.get(self.api + path, timeout=5).json()
            if obj.get(key) == want or time.monotonic() > deadline:
                assert obj.get(key) == want, f"GET {path}: {key}={obj.get(key)!r}, waited for {want!r}"
                return obj
            time.sleep(0.02)


def _disks_configs_and_copies(rec: Recorder, lid: int, root: dict, volume: dict) -> None:
    """Disks and a config made over the API, a resized and a cloned volume, an uploaded image."""
    base = f"/linode/instances/{lid}/disks"
    rec.post(f"{base}/{root['id']}/resize", None, {"size": 8000})
    rec.wait(f"{base}/{root['id']}", "status", "ready")
    scratch = rec.post(base, "Disk", {"label": "schema-scratch", "size": 100, "filesystem": "ext4"})
    rec.wait(f"{base}/{scratch['id']}", "status", "ready")
    copy = rec.post(f"{base}/{scratch['id']}/clone", "Disk")
    rec.wait(f"{base}/{copy['id']}", "status", "ready")
    devices = {"sda": {"disk_id": root["id"]}, "sdb": {"disk_id": copy["id"]}}
    config = rec.post(f"/linode/instances/{lid}/configs", "Config", {"label": "schema-second", "devices": devices})
    rec.call("PUT", f"/linode/instances/{lid}/configs/{config['id']}", "Config", {"comments": "schema"})
    rec.post(f"/volumes/{volume['id']}/resize", "Volume", {"size": 11})
    rec.wait(f"/volumes/{volume['id']}", "status", "active")
    rec.post(f"/volumes/{volume['id']}/clone", "Volume", {"label": "schema-data-copy"})
    upload = rec.post("/images/upload", None, {"label": "schema-upload", "region": REGION})
    rec.seen["Image"].append(("POST /images/upload image", upload["image"]))


def _scenario(rec: Recorder) -> None:
    # Catalogues.
    regions = rec.get_list("/regions", "Region")
    for region in regions:
        rec.get(f"/regions/{region['id']}", "Region")
    types = rec.get_list("/linode/types", "Type")
    for linode_type in types[:3]:
        rec.get(f"/linode/types/{linode_type['id']}", "Type")
    rec.get_list("/images", "Image")
    rec.get(f"/images/{IMAGE}", "Image")

    # An instance from a public image, with tags and a private IP, running.
    linode = rec.post(
        "/linode/instances",
        "Linode",
        {
            "region": REGION,
            "type": TYPE,
            "image": IMAGE,
            "label": "schema-web-1",
            "tags": ["schema", "schema-web"],
            "root_pass": "Schema-test-pass-123!",
            "booted": True,
        },
    )
    lid = linode["id"]
    rec.wait(f"/linode/instances/{lid}", "status", "running")
    rec.get(f"/linode/instances/{lid}", "Linode")
    disks = rec.get_list(f"/linode/instances/{lid}/disks", "Disk")
    for disk in disks:
        rec.get(f"/linode/instances/{lid}/disks/{disk['id']}", "Disk")
    configs = rec.get_list(f"/linode/instances/{lid}/configs", "Config")
    for config in configs:
        rec.get(f"/linode/instances/{lid}/configs/{config['id']}", "Config")

    # Shut down, capture an image from the root disk.
    rec.post(f"/linode/instances/{lid}/shutdown", None)
    rec.wait(f"/linode/instances/{lid}", "status", "offline")
    root = next(d for d in disks if d.get("filesystem") in ("ext4", "ext3"))
    image = rec.post(
        "/images",
        "Image",
        {"disk_id": root["id"], "label": "schema-golden", "description": "schema test", "cloud_init": True},
    )
    rec.wait(f"/images/{image['id']}", "status", "available")
    rec.get(f"/images/{image['id']}", "Image")
    rec.get_list("/images", "Image")  # public and private together

    # A volume, attached to the instance's config.
    volume = rec.post(
        "/volumes", "Volume", {"label": "schema-data", "size": 10, "region": REGION, "tags": ["schema"]}
    )
    rec.wait(f"/volumes/{volume['id']}", "status", "active")
    rec.post(f"/volumes/{volume['id']}/attach", "Volume", {"linode_id": lid, "config_id": configs[0]["id"]})
    rec.get_list("/volumes", "Volume")
    rec.get_list(f"/linode/instances/{lid}/volumes", "Volume")
    rec.get(f"/volumes/{volume['id']}", "Volume")
    _disks_configs_and_copies(rec, lid, root, volume)

    # A NodeBalancer with a config and a node on the instance's private IP.
    nb = rec.post(
        "/nodebalancers", "NodeBalancer", {"region": REGION, "label": "schema-nb", "tags": ["schema"]}
    )
    nbc = rec.post(
        f"/nodebalancers/{nb['id']}/configs",
        "NodeBalancerConfig",
        {
            "port": 80,
            "protocol": "http",
            "algorithm": "roundrobin",
            "check": "http",
            "check_path": "/healthz",
        },
    )
    # The emulator hands out one (loopback) private address; the real API lists it after the public one.
    private = rec.get(f"/linode/instances/{lid}", "Linode")["ipv4"][-1]
    node = rec.post(
        f"/nodebalancers/{nb['id']}/configs/{nbc['id']}/nodes",
        "NodeBalancerNode",
        {"label": "schema-web-1", "address": f"{private}:80", "weight": 100, "mode": "accept"},
    )
    rec.get_list("/nodebalancers", "NodeBalancer")
    rec.get(f"/nodebalancers/{nb['id']}", "NodeBalancer")
    rec.get_list(f"/nodebalancers/{nb['id']}/configs", "NodeBalancerConfig")
    rec.get(f"/nodebalancers/{nb['id']}/configs/{nbc['id']}", "NodeBalancerConfig")
    rec.get_list(f"/nodebalancers/{nb['id']}/configs/{nbc['id']}/nodes", "NodeBalancerNode")
    rec.get(f"/nodebalancers/{nb['id']}/configs/{nbc['id']}/nodes/{node['id']}", "NodeBalancerNode")

    # A Cloud Firewall: the instance as a device at create, the NodeBalancer added, rules replaced.
    firewall = rec.post(
        "/networking/firewalls",
        "Firewall",
        {"label": "schema-fw", "tags": ["schema"], "rules": FIREWALL_RULES, "devices": {"linodes": [lid]}},
    )
    fid = firewall["id"]
    rec.post(f"/networking/firewalls/{fid}/devices", "FirewallDevice", {"type": "nodebalancer", "id": nb["id"]})
    rec.call("PUT", f"/networking/firewalls/{fid}/rules", "FirewallRules", {**FIREWALL_RULES, "outbound": []})
    rec.call("PUT", f"/networking/firewalls/{fid}", "Firewall", {"label": "schema-fw-1", "tags": ["schema"]})
    rec.post(
        "/linode/instances",
        "Linode",
        {"region": REGION, "type": TYPE, "label": "schema-web-2", "firewall_id": fid, "booted": False},
    )
    rec.get_list("/networking/firewalls", "Firewall")
    rec.get(f"/networking/firewalls/{fid}", "Firewall")
    rec.get(f"/networking/firewalls/{fid}/rules", "FirewallRules")
    for version in rec.get_list(f"/networking/firewalls/{fid}/history", "FirewallRuleVersion"):
        rec.seen["FirewallRules"].append((f"GET /networking/firewalls/{fid}/history rules", version.get("rules")))
    rec.get(f"/networking/firewalls/{fid}/history/rules/1", "FirewallRules")
    devices = rec.get_list(f"/networking/firewalls/{fid}/devices", "FirewallDevice")
    for device in devices:
        rec.get(f"/networking/firewalls/{fid}/devices/{device['id']}", "FirewallDevice")
    rec.get_list(f"/linode/instances/{lid}/firewalls", "Firewall")
    rec.get_list(f"/nodebalancers/{nb['id']}/firewalls", "Firewall")

    # Everything listed once more after all the state changes, then tags and events.
    rec.get_list("/linode/instances", "Linode")
    rec.get_list("/tags", "Tag")
    for tagged in rec.get_list("/tags/schema", "TaggedObject"):
        kind = TAGGED_KINDS.get(tagged.get("type"))
        assert kind, f"GET /tags/schema: unexpected tagged type {tagged.get('type')!r}"
        rec.seen[kind].append((f"GET /tags/schema {kind}", tagged.get("data")))
    events = rec.get_list("/account/events", "Event")
    for event in events[:5]:
        rec.get(f"/account/events/{event['id']}", "Event")

    # Error envelopes: an unknown object, a field error, a filter error.
    rec.get("/linode/instances/987654321", "Linode", expect=404)
    rec.post(
        "/linode/instances",
        None,
        {
            "region": REGION,
            "type": TYPE,
            "image": IMAGE,
            "label": "schema-web-1",
            "root_pass": "Schema-test-pass-123!",
        },
        expect=400,
    )
    rec.call("GET", "/linode/instances", None, headers={"X-Filter": '{"foo": "bar"}'}, expect=400)
    icmp_with_ports = {**FIREWALL_RULES["inbound"][0], "protocol": "ICMP"}
    rec.call("PUT", f"/networking/firewalls/{fid}/rules", None, {"inbound": [icmp_with_ports]}, expect=400)


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> dict[str, list[tuple[str, Any]]]:
    """Run the scenario once for all kinds. The ``emulator`` fixture is function-scoped, so this starts
    an ``EmulatorServer`` with the same defaults (``EMULATOR_DEFAULTS``) for the whole module."""
    server = EmulatorServer(tmp_path_factory.mktemp("schema-emulator"), **EMULATOR_DEFAULTS).start()
    try:
        requests.put(
            f"{server.url}/_emulator/transitions", json={"policy": "immediate"}, timeout=5
        ).raise_for_status()
        rec = Recorder(server.api_url)
        _scenario(rec)
        rec.http.close()
        return rec.seen
    finally:
        server.stop()


def test_schema_file_names_its_source() -> None:
    meta = SCHEMA["_meta"]
    assert meta["spec_version"] and "derive_linode_schema.py" in meta["regenerate"]
    assert set(OBJECT_KINDS) >= {
        "Linode",
        "Disk",
        "Config",
        "Image",
        "Volume",
        "NodeBalancer",
        "NodeBalancerConfig",
        "NodeBalancerNode",
        "Event",
        "Region",
        "Type",
        "Tag",
        "Firewall",
        "FirewallDevice",
        "FirewallRules",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_emulator_objects_match_schema(kind: str, observed: dict[str, list[tuple[str, Any]]]) -> None:
    objects = observed.get(kind, [])
    assert objects, f"{kind}: the scenario saw no {kind} object"
    findings = [
        (label, where, problem) for label, obj in objects for where, problem in validate(obj, SCHEMA[kind])
    ]
    if findings:
        pytest.fail(summarize(kind, findings), pytrace=False)
