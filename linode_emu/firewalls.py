"""Cloud Firewalls: their models, their state and their verbs, one resource family in its own module.

``FirewallFamily`` is mixed into the ``Backend`` facade, so the verbs are the backend's
(``backend.create_firewall(...)``) and run under its lock like every other verb. The family owns its
state (``_firewalls``, ``_firewall_devices``) and offers the host these hooks:

- ``_clear_firewalls()``, ``_firewalls_to_state()``, ``_restore_firewalls(state)``: reset and persistence;
- ``_firewall_to_assign(firewall_id, kind)``: check a create's ``firewall_id`` before anything changes;
- ``_assign_at_create(firewall, entity)``: make the new Linode or NodeBalancer a device of it;
- ``_forget_devices(kind, entity_id)``: a Linode or NodeBalancer is being deleted.

It uses these of the host: ``_advance()``, ``_notify(action, entity, secondary)``, ``_stamp()``,
``_next_id(kind)``, ``_use_tags(tags)``, ``_instance(id)``, ``_nodebalancer(id)`` (404 when missing)
and the ``_instances`` and ``_nodebalancers`` collections.

Rules of the API (spec 4.176) kept here: labels are 3-32 characters and unique; a new Firewall is
``enabled``; a Linode or NodeBalancer can have one *enabled* Firewall at a time (disabled ones may be
assigned besides, but cannot be enabled while another enabled one is assigned); only one NodeBalancer
can be assigned to a Firewall at a time; deleting a Firewall removes its devices; deleting a Linode or
NodeBalancer removes its devices. Firewalls filter nothing in the emulator.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from linode_emu import validation
from linode_emu.errors import invalid, not_found
from linode_emu.firewall_rules import check_rules
from linode_emu.models import entity_ref, to_state
from linode_emu.verbs import reads, writes

# Far from the other kinds' ids (backend._ID_BASES), so an id of the wrong kind is a 404.
FIREWALL_ID_BASES = {"firewall": 10_000_001, "firewall_device": 15_000_001}
DEVICE_KINDS = {"linode": "Linode", "nodebalancer": "NodeBalancer"}
STATUSES = ("enabled", "disabled")
_LABEL = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9_.-])*[a-zA-Z0-9]$")


@dataclass
class Firewall:
    """A Cloud Firewall; ``rules`` is the checked rules object (firewall_rules.check_rules)."""

    id: int
    label: str
    status: str
    rules: dict
    created: str
    updated: str
    tags: list[str] = field(default_factory=list)
    # The rules replaced so far, oldest first: ``{"rules", "updated"}``; version n is history[n - 1].
    history: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/networking/firewalls/{self.id}"

    @property
    def version(self) -> int:
        """The version of the current rules: 1 at create, one more at each replacement."""
        return len(self.history) + 1

    def rule_versions(self) -> list[tuple[int, dict, str]]:
        """``(version, rules, updated)`` of every version of the rules, the current one last."""
        past = [(n, item["rules"], item["updated"]) for n, item in enumerate(self.history, 1)]
        return [*past, (self.version, self.rules, self.updated)]

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    def ref(self) -> dict:
        return entity_ref("firewall", self.id, self.label, self.url)

    def rules_json(self) -> dict:
        return rules_json(self.rules, self.version)

    def to_json(self) -> dict:
        """GET /networking/firewalls/{id}: devices are not part of it (the spec)."""
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created,
            "updated": self.updated,
            "status": self.status,
            "rules": self.rules_json(),
            "tags": list(self.tags),
        }


@dataclass
class FirewallDevice:
    """The assignment of a Firewall to a Linode or a NodeBalancer (``entity_type`` linode|nodebalancer)."""

    id: int
    firewall_id: int
    entity_type: str
    entity_id: int
    created: str
    updated: str

    def to_json(self, entity: dict) -> dict:
        """``entity`` is the assigned object's ``{"id", "label", "type", "url"}``, read when asked."""
        return {"id": self.id, "created": self.created, "updated": self.updated, "entity": dict(entity)}


def rules_json(rules: dict, version: int) -> dict:
    """A rules object as the API shows it, with its ``version`` and ``fingerprint`` (a digest of the rules)."""
    shown = {
        "inbound": [_copy_rule(rule) for rule in rules["inbound"]],
        "inbound_policy": rules["inbound_policy"],
        "outbound": [_copy_rule(rule) for rule in rules["outbound"]],
        "outbound_policy": rules["outbound_policy"],
    }
    digest = hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()
    return {**shown, "version": version, "fingerprint": digest[:8]}


def _copy_rule(rule: dict) -> dict:
    copied = dict(rule)
    copied["addresses"] = {family: list(nets) for family, nets in rule["addresses"].items()}
    return copied


def check_firewall_label(label: str) -> None:
    """3-32 characters, a letter first and a letter or digit last, no ``--``, ``__`` or ``..``."""
    validation.check_length("label", label, 3, 32)
    if not _LABEL.match(label):
        raise invalid(
            "label",
            "Label must begin with a letter, end with a letter or a number, and contain only letters, "
            "numbers, '-', '_' and '.' without two of '-', '_' or '.' in a row",
        )


class FirewallFamily:
    """The Cloud Firewall verbs of the emulated account (mixed into ``Backend``; see the module doc)."""

    # ------------------------------------------------------------------ hooks for the host

    def _clear_firewalls(self) -> None:
        self._firewalls: dict[int, Firewall] = {}
        self._firewall_devices: dict[int, FirewallDevice] = {}

    def _firewalls_to_state(self) -> dict:
        return {
            "firewalls": [to_state(firewall) for firewall in self._firewalls.values()],
            "firewall_devices": [to_state(device) for device in self._firewall_devices.values()],
        }

    def _restore_firewalls(self, state: dict) -> None:
        """Absent from states saved before firewalls existed: none."""
        self._firewalls = {item["id"]: Firewall(**item) for item in state.get("firewalls", [])}
        self._firewall_devices = {item["id"]: FirewallDevice(**item) for item in state.get("firewall_devices", [])}

    def _firewall_to_assign(self, firewall_id: int | None, kind: str) -> Firewall | None:
        """The Firewall a create's ``firewall_id`` names (None without one); 400 naming ``firewall_id``
        when there is no such Firewall or it cannot take a new ``kind``."""
        if firewall_id is None:
            return None
        firewall = self._firewalls.get(firewall_id)
        if firewall is None:
            raise invalid("firewall_id", "Not found")
        if kind == "nodebalancer":
            self._check_one_nodebalancer(firewall, "firewall_id")
        return firewall

    def _assign_at_create(self, firewall: Firewall | None, entity) -> None:
        """Make a just-created Linode or NodeBalancer (``entity``, with ``ref()``) a device of ``firewall``."""
        if firewall is not None:
            ref = entity.ref()
            self._add_device(firewall, ref["type"], ref["id"])

    def _forget_devices(self, kind: str, entity_id: int) -> None:
        """The Linode or NodeBalancer goes away: it stops being a device of any Firewall."""
        for device in self._devices_of_entity(kind, entity_id):
            self._remove_device(device)

    # ------------------------------------------------------------------ firewalls

    @writes
    def create_firewall(
        self,
        *,
        label: str | None,
        rules: dict | None,
        tags: list[str] | None = None,
        linodes: list[int] = (),
        nodebalancers: list[int] = (),
        linode_interfaces: list[int] = (),
    ) -> dict:
        """Create an enabled Firewall, with devices for the given Linodes and NodeBalancer."""
        self._advance()
        if label is None:
            raise invalid("label", "label is required")
        self._check_unique_firewall_label(label, None)
        if rules is None:
            raise invalid("rules", "rules is required")
        checked = check_rules(rules, prefix="rules.")
        if linode_interfaces:
            raise invalid("devices.linode_interfaces", "Linode interfaces are not emulated")
        targets = self._new_devices("devices.linodes", "linode", linodes)
        targets += self._new_devices("devices.nodebalancers", "nodebalancer", nodebalancers)
        if len(nodebalancers) > 1:
            raise invalid("devices.nodebalancers", "Only one NodeBalancer can be assigned to a Firewall at a time")
        tags = self._use_tags(tags or [])
        now = self._stamp()
        firewall = Firewall(
            id=self._next_id("firewall"),
            label=label,
            status="enabled",
            rules=checked,
            created=now,
            updated=now,
            tags=tags,
        )
        self._firewalls[firewall.id] = firewall
        self._firewall_event("firewall_create", firewall, None, f"Firewall {label} created")
        for kind, entity_id in targets:
            self._add_device(firewall, kind, entity_id)
        return firewall.to_json()

    @reads
    def list_firewalls(self) -> list[dict]:
        self._advance()
        return [firewall.to_json() for firewall in self._firewalls.values()]

    @reads
    def get_firewall(self, firewall_id: int) -> dict:
        self._advance()
        return self._firewall(firewall_id).to_json()

    @writes
    def update_firewall(self, firewall_id: int, changes: dict) -> dict:
        """Change ``label``, ``tags`` and/or ``status`` (enabled|disabled): ``firewall_update`` for the
        first two, ``firewall_enable`` / ``firewall_disable`` when the status changes."""
        self._advance()
        firewall = self._firewall(firewall_id)
        if "label" in changes:
            self._check_unique_firewall_label(changes["label"], firewall_id)
        status = changes.get("status", firewall.status)
        validation.check_choice("status", status, STATUSES)
        enabling = status == "enabled" and not firewall.enabled
        if enabling:
            for device in self._devices_of(firewall_id):
                self._check_no_other_enabled(firewall, device.entity_type, device.entity_id, "status")
        if "tags" in changes:
            changes["tags"] = self._use_tags(changes["tags"])
        status_changed = status != firewall.status
        for name in ("label", "tags", "status"):
            if name in changes:
                setattr(firewall, name, changes[name])
        firewall.updated = self._stamp()
        if "label" in changes or "tags" in changes or not status_changed:
            self._firewall_event("firewall_update", firewall, None, f"Firewall {firewall.label} updated")
        if status_changed:
            action = "firewall_enable" if firewall.enabled else "firewall_disable"
            self._firewall_event(action, firewall, None, f"Firewall {firewall.label} {status}")
        return firewall.to_json()

    @writes
    def delete_firewall(self, firewall_id: int) -> None:
        """Delete a Firewall and its devices (``firewall_delete``)."""
        self._advance()
        firewall = self._firewall(firewall_id)
        for device in self._devices_of(firewall_id):
            del self._firewall_devices[device.id]
        del self._firewalls[firewall_id]
        self._firewall_event("firewall_delete", firewall, None, f"Firewall {firewall.label} deleted")

    @reads
    def get_firewall_rules(self, firewall_id: int) -> dict:
        self._advance()
        return self._firewall(firewall_id).rules_json()

    @writes
    def update_firewall_rules(self, firewall_id: int, rules: dict) -> dict:
        """Replace the inbound and outbound rules (a list left out becomes empty, a policy left out stays)."""
        self._advance()
        firewall = self._firewall(firewall_id)
        checked = check_rules(rules, require_policies=False, current=firewall.rules)
        firewall.history.append({"rules": firewall.rules, "updated": firewall.updated})
        firewall.rules = checked
        firewall.updated = self._stamp()
        self._firewall_event("firewall_rules_update", firewall, None, f"Rules of Firewall {firewall.label} updated")
        return firewall.rules_json()

    @writes
    def apply_instance_firewalls(self, linode_id: int) -> None:
        """Re-apply the Firewalls of a Linode (``POST .../firewalls/apply``): they always apply here."""
        self._advance()
        self._instance(linode_id)

    @reads
    def list_firewall_rule_versions(self, firewall_id: int) -> list[dict]:
        """``GET .../history``: every version of the rules, oldest first."""
        self._advance()
        return [
            {"version": version, "updated": updated, "rules": rules_json(rules, version)}
            for version, rules, updated in self._firewall(firewall_id).rule_versions()
        ]

    @reads
    def get_firewall_rule_version(self, firewall_id: int, version: int) -> dict:
        """``GET .../history/rules/{version}``: the rules as they were in that version."""
        self._advance()
        for number, rules, _ in self._firewall(firewall_id).rule_versions():
            if number == version:
                return rules_json(rules, number)
        raise not_found()

    # ------------------------------------------------------------------ devices

    @writes
    def create_firewall_device(self, firewall_id: int, entity_id: int | None, kind: str | None) -> dict:
        """Assign the Firewall to a Linode or a NodeBalancer (``firewall_device_add``)."""
        self._advance()
        firewall = self._firewall(firewall_id)
        if entity_id is None:
            raise invalid("id", "id is required")
        if kind is None:
            raise invalid("type", "type is required")
        validation.check_choice("type", kind, tuple(DEVICE_KINDS))
        self._check_assignable(firewall, kind, entity_id, "id")
        return self._device_json(self._add_device(firewall, kind, entity_id))

    @reads
    def list_firewall_devices(self, firewall_id: int) -> list[dict]:
        self._advance()
        self._firewall(firewall_id)
        return [self._device_json(device) for device in self._devices_of(firewall_id)]

    @reads
    def get_firewall_device(self, firewall_id: int, device_id: int) -> dict:
        self._advance()
        return self._device_json(self._device(firewall_id, device_id))

    @writes
    def delete_firewall_device(self, firewall_id: int, device_id: int) -> None:
        """Unassign the Firewall from the device's Linode or NodeBalancer (``firewall_device_remove``)."""
        self._advance()
        self._remove_device(self._device(firewall_id, device_id))

    # ------------------------------------------------------------------ a Linode's or NodeBalancer's firewalls

    @reads
    def list_instance_firewalls(self, linode_id: int) -> list[dict]:
        """The Firewalls whose devices include this Linode."""
        self._advance()
        self._instance(linode_id)
        return self._firewalls_of("linode", linode_id)

    @reads
    def list_nodebalancer_firewalls(self, nodebalancer_id: int) -> list[dict]:
        """The Firewalls whose devices include this NodeBalancer."""
        self._advance()
        self._nodebalancer(nodebalancer_id)
        return self._firewalls_of("nodebalancer", nodebalancer_id)

    # ------------------------------------------------------------------ helpers

    def _firewall(self, firewall_id: int) -> Firewall:
        firewall = self._firewalls.get(firewall_id)
        if firewall is None:
            raise not_found()
        return firewall

    def _device(self, firewall_id: int, device_id: int) -> FirewallDevice:
        self._firewall(firewall_id)
        device = self._firewall_devices.get(device_id)
        if device is None or device.firewall_id != firewall_id:
            raise not_found()
        return device

    def _devices_of(self, firewall_id: int) -> list[FirewallDevice]:
        return [device for device in self._firewall_devices.values() if device.firewall_id == firewall_id]

    def _devices_of_entity(self, kind: str, entity_id: int) -> list[FirewallDevice]:
        return [
            device
            for device in self._firewall_devices.values()
            if device.entity_type == kind and device.entity_id == entity_id
        ]

    def _firewalls_of(self, kind: str, entity_id: int) -> list[dict]:
        ids = sorted({device.firewall_id for device in self._devices_of_entity(kind, entity_id)})
        return [self._firewalls[firewall_id].to_json() for firewall_id in ids]

    def _check_unique_firewall_label(self, label: str, firewall_id: int | None) -> None:
        check_firewall_label(label)
        if any(other.label == label and other.id != firewall_id for other in self._firewalls.values()):
            raise invalid("label", "Label must be unique among your Firewalls")

    def _entity(self, kind: str, entity_id: int):
        """The live Linode or NodeBalancer, or None (a Linode being deleted counts as gone)."""
        if kind == "linode":
            instance = self._instances.get(entity_id)
            return instance if instance is not None and instance.status != "deleting" else None
        return self._nodebalancers.get(entity_id)

    def _new_devices(self, field_name: str, kind: str, entity_ids) -> list[tuple[str, int]]:
        """Check the devices of a Firewall being created (enabled, so no other enabled one may be there)."""
        if len(set(entity_ids)) != len(entity_ids):
            raise invalid(field_name, f"Each {DEVICE_KINDS[kind]} can be listed only once")
        for entity_id in entity_ids:
            if self._entity(kind, entity_id) is None:
                raise invalid(field_name, f"{DEVICE_KINDS[kind]} {entity_id} not found")
            for device in self._devices_of_entity(kind, entity_id):
                if self._firewalls[device.firewall_id].enabled:
                    raise invalid(field_name, self._conflict(kind, entity_id))
        return [(kind, entity_id) for entity_id in entity_ids]

    def _check_assignable(self, firewall: Firewall, kind: str, entity_id: int, field_name: str) -> None:
        """A new device of ``firewall``: the object exists, is not a device of it yet, has no other
        enabled Firewall when this one is enabled, and is not a second NodeBalancer."""
        if self._entity(kind, entity_id) is None:
            raise invalid(field_name, f"{DEVICE_KINDS[kind]} {entity_id} not found")
        if any(device.firewall_id == firewall.id for device in self._devices_of_entity(kind, entity_id)):
            raise invalid(field_name, f"{DEVICE_KINDS[kind]} {entity_id} is already a device of this Firewall")
        if firewall.enabled:
            self._check_no_other_enabled(firewall, kind, entity_id, field_name)
        if kind == "nodebalancer":
            self._check_one_nodebalancer(firewall, field_name)

    def _check_no_other_enabled(self, firewall: Firewall, kind: str, entity_id: int, field_name: str) -> None:
        for device in self._devices_of_entity(kind, entity_id):
            other = self._firewalls[device.firewall_id]
            if other.id != firewall.id and other.enabled:
                raise invalid(field_name, self._conflict(kind, entity_id))

    @staticmethod
    def _conflict(kind: str, entity_id: int) -> str:
        return f"{DEVICE_KINDS[kind]} {entity_id} already has an enabled Firewall assigned"

    def _check_one_nodebalancer(self, firewall: Firewall, field_name: str) -> None:
        if any(device.entity_type == "nodebalancer" for device in self._devices_of(firewall.id)):
            raise invalid(field_name, "Only one NodeBalancer can be assigned to a Firewall at a time")

    def _add_device(self, firewall: Firewall, kind: str, entity_id: int) -> FirewallDevice:
        now = self._stamp()
        device = FirewallDevice(
            id=self._next_id("firewall_device"),
            firewall_id=firewall.id,
            entity_type=kind,
            entity_id=entity_id,
            created=now,
            updated=now,
        )
        self._firewall_devices[device.id] = device
        entity = self._entity_ref(kind, entity_id)
        message = f"{DEVICE_KINDS[kind]} {entity['label']} added to Firewall {firewall.label}"
        self._firewall_event("firewall_device_add", firewall, entity, message)
        return device

    def _remove_device(self, device: FirewallDevice) -> None:
        del self._firewall_devices[device.id]
        firewall = self._firewalls[device.firewall_id]
        entity = self._entity_ref(device.entity_type, device.entity_id)
        message = f"{DEVICE_KINDS[device.entity_type]} {entity['label']} removed from Firewall {firewall.label}"
        self._firewall_event("firewall_device_remove", firewall, entity, message)

    def _entity_ref(self, kind: str, entity_id: int) -> dict:
        """The device's object as an event or a device shows it (its current label)."""
        entity = self._instances.get(entity_id) if kind == "linode" else self._nodebalancers.get(entity_id)
        return entity.ref()

    def _device_json(self, device: FirewallDevice) -> dict:
        return device.to_json(self._entity_ref(device.entity_type, device.entity_id))

    def _firewall_event(self, action: str, firewall: Firewall, secondary: dict | None, message: str) -> None:
        self._notify(action, firewall.ref(), secondary).message = message
