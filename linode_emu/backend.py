"""All emulator state, its status machines and its events. No HTTP knowledge.

Every public method is a verb of the API (``create_instance``, ``boot_instance``, ...): it runs under
the one lock, first lets pending jobs progress (``_advance``), checks the request against the
domain rules (raising ``EmuApiError``), changes the state, and returns Linode's JSON view of the
result. Mutations are saved to the state store before the verb returns, or, once the serving emulator calls
:meth:`Backend.save_in_background`, by a writer thread within ``delays.real("state_save")`` seconds.
"""

from __future__ import annotations

import threading

from linode_emu import catalog, validation
from linode_emu.addresses import AddressFamily
from linode_emu.disks import DiskFamily
from linode_emu.errors import invalid, not_found
from linode_emu.firewalls import FIREWALL_ID_BASES, FirewallFamily
from linode_emu.images import ImageFamily
from linode_emu.instances import InstanceFamily
from linode_emu.machines import MachineDriver
from linode_emu.models import (
    Config,
    Disk,
    Event,
    Image,
    Instance,
    NodeBalancer,
    NodeBalancerConfig,
    NodeBalancerNode,
    Volume,
    api_time,
    to_state,
)
from linode_emu.nodebalancers import NodeBalancerFamily
from linode_emu.power import PowerFamily
from linode_emu.store import StateStore, StateWriter
from linode_emu.transitions import SystemClock, TransitionPolicy
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes
from linode_emu.volumes import VolumeFamily

STATE_VERSION = 1

# Ids of different kinds start far apart so that an id used for the wrong kind of object is a 404.
_ID_BASES = {
    "linode": 40_000_001,
    "disk": 80_000_001,
    "config": 60_000_001,
    "image": 30_000_001,
    "volume": 70_000_001,
    "nodebalancer": 50_000_001,
    "nodebalancer_config": 55_000_001,
    "nodebalancer_node": 57_000_001,
    "event": 900_000_001,
    "address": 0,
    "private_address": 0,
    **FIREWALL_ID_BASES,
}
_COLLECTIONS = {
    "instances": Instance,
    "disks": Disk,
    "configs": Config,
    "images": Image,
    "volumes": Volume,
    "nodebalancers": NodeBalancer,
    "nodebalancer_configs": NodeBalancerConfig,
    "nodebalancer_nodes": NodeBalancerNode,
}
# The share of a linode_create job shown as "scheduled" before it is "started".
_SCHEDULED_SHARE = 0.2


class Backend(
    InstanceFamily,
    PowerFamily,
    DiskFamily,
    AddressFamily,
    ImageFamily,
    VolumeFamily,
    NodeBalancerFamily,
    FirewallFamily,
):
    """The emulated Linode account: its state, jobs, events, catalogue and tags. Each resource family keeps
    its verbs in a module of its own, mixed in here (``linode_emu.instances``, ``.power``, ``.disks``,
    ``.images``, ``.volumes``, ``.nodebalancers``, ``.firewalls``)."""

    def __init__(
        self,
        store: StateStore | None = None,
        clock=None,
        policy: TransitionPolicy | None = None,
        driver: MachineDriver | None = None,
    ):
        self._lock = threading.RLock()
        self._writer = StateWriter(store, self._lock, self._changed_state) if store else None
        self._clock = clock or SystemClock()
        self.policy = policy or TransitionPolicy()
        self._driver = driver or MachineDriver()
        self._counters = dict(_ID_BASES)
        self._clear()
        state = store.load() if store else None
        if state:
            self._restore(state)

    # ------------------------------------------------------------------ state

    def _clear(self) -> None:
        self._instances: dict[int, Instance] = {}
        self._disks: dict[int, Disk] = {}
        self._configs: dict[int, Config] = {}
        self._images: dict[str, Image] = {}
        self._volumes: dict[int, Volume] = {}
        self._nodebalancers: dict[int, NodeBalancer] = {}
        self._nodebalancer_configs: dict[int, NodeBalancerConfig] = {}
        self._nodebalancer_nodes: dict[int, NodeBalancerNode] = {}
        self._events: dict[int, Event] = {}
        self._active: set[int] = set()
        self._tags: set[str] = set()
        self._boot_failures: set[int] = set()
        self._boot_failure_plan = {"skip": 0, "count": 0}
        self._capture_failures = 0
        self._clear_firewalls()
        self._dirty = False

    def reset(self) -> None:
        """Forget every object; id counters keep growing so ids are never reused."""
        with self._lock:
            self._clear()
            self._dirty = True
            self._save_if_dirty()

    def set_policy(self, policy: TransitionPolicy) -> None:
        """Switch the progression policy; pending jobs follow the new one from now on."""
        with self._lock:
            self.policy = policy

    def _to_state(self) -> dict:
        state = {name: [to_state(obj) for obj in getattr(self, "_" + name).values()] for name in _COLLECTIONS}
        state.update(
            version=STATE_VERSION,
            counters=dict(self._counters),
            events=[to_state(event) for event in self._events.values()],
            tags=sorted(self._tags),
            boot_failures=sorted(self._boot_failures),
            boot_failure_plan=dict(self._boot_failure_plan),
            capture_failures=self._capture_failures,
            **self._firewalls_to_state(),
        )
        return state

    def _restore(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {state.get('version')!r}")
        self._counters.update(state["counters"])
        for name, model in _COLLECTIONS.items():
            setattr(self, "_" + name, {obj.id: obj for obj in (model(**item) for item in state[name])})
        self._events = {event.id: event for event in map(Event.from_state, state["events"])}
        self._active = {event.id for event in self._events.values() if event.job}
        self._tags = set(state["tags"])
        self._boot_failures = set(state["boot_failures"])
        # Absent from states saved before the plan existed: nothing planned.
        self._boot_failure_plan = dict(state.get("boot_failure_plan") or {"skip": 0, "count": 0})
        self._capture_failures = state["capture_failures"]
        self._restore_firewalls(state)

    def _save_if_dirty(self) -> None:
        if self._dirty and self._writer:
            self._writer.changed()

    def _changed_state(self) -> str | None:
        """The encoded state if it changed since the last save (under the lock), else None."""
        if not self._dirty:
            return None
        self._dirty = False
        return StateStore.encode(self._to_state())

    def save_in_background(self) -> None:
        """Save changes from a writer thread, at most every ``delays.real("state_save")`` seconds, instead of
        before each verb returns: a serving emulator's requests do not wait for the disk."""
        if self._writer:
            self._writer.start()

    def stop_saving_in_background(self) -> None:
        """Save what changed since the writer thread's last save and end it; changes are saved at once again."""
        if self._writer:
            self._writer.stop()

    def _next_id(self, kind: str) -> int:
        value = self._counters[kind]
        self._counters[kind] = value + 1
        return value

    def _now(self) -> float:
        return self._clock.now()

    def _stamp(self) -> str:
        return api_time(self._now())

    # ------------------------------------------------------------------ jobs and events

    def _advance(self) -> None:
        """Finish every job its policy says is done (chained jobs included); refresh the others."""
        now = self._now()
        progressed = True
        while progressed:
            progressed = False
            for event_id in sorted(self._active):
                event = self._events[event_id]
                fraction = self.policy.progress(event.job, now)
                if fraction >= 1.0:
                    self._finish(event, now)
                    progressed = True
                else:
                    self._show_progress(event, fraction)

    def _observe(self, kind: str, ids) -> None:
        """Count a read of these objects (the ``reads`` policy), then let jobs progress."""
        wanted = set(ids)
        for event_id in self._active:
            event = self._events[event_id]
            if event.concerns(kind, wanted):
                event.job.reads += 1
        self._advance()

    def _observe_events(self, events) -> None:
        for event in events:
            if event.job:
                event.job.reads += 1
        self._advance()

    @staticmethod
    def _show_progress(event: Event, fraction: float) -> None:
        scheduled = event.action == "linode_create" and fraction < _SCHEDULED_SHARE
        event.status = "scheduled" if scheduled else "started"
        event.percent_complete = min(99, int(fraction * 100))

    def _start_job(
        self, action: str, entity: dict, secondary: dict | None, start=None, fails=False, **params
    ):
        """Record the event of a new job; it finishes under the current policy."""
        job = self.policy.new_job(action, self._now() if start is None else start, **params)
        job.fails = fails
        event = self._new_event(action, entity, secondary, status="started")
        event.job = job
        self._show_progress(event, 0.0)
        self._active.add(event.id)
        return event

    def _notify(self, action: str, entity: dict, secondary: dict | None = None) -> Event:
        """Record an event that is complete when it happens."""
        return self._new_event(action, entity, secondary, status="notification", percent_complete=100)

    def _new_event(self, action, entity, secondary, status, percent_complete=0) -> Event:
        event = Event(
            id=self._next_id("event"),
            action=action,
            entity=entity,
            secondary_entity=secondary,
            status=status,
            created=self._stamp(),
            percent_complete=percent_complete,
        )
        self._events[event.id] = event
        return event

    def _finish(self, event: Event, now: float) -> None:
        job = event.job
        end = min(now, job.finish_at)
        self._close_job(event, "failed" if job.fails else "finished", end)
        if not job.fails:
            event.percent_complete = 100
        getattr(self, "_finish_" + event.action)(event, job, end)
        self._dirty = True

    def _close_job(self, event: Event, status: str, end: float) -> None:
        event.duration = round(max(0.0, end - event.job.start_at), 3)
        event.status = status
        event.job = None
        self._active.discard(event.id)

    def _cancel(self, event: Event, message: str) -> None:
        """End a job early as failed (its object went away)."""
        job = event.job
        self._close_job(event, "failed", self._now())
        event.message = message
        if event.action == "disk_imagize":
            self._images.pop(job.params["image_id"], None)
            self._driver.delete_image(job.params["image_id"])

    def _jobs_of(self, kind: str, entity_id) -> list[Event]:
        """Active jobs whose main entity is that object."""
        return [
            self._events[event_id]
            for event_id in sorted(self._active)
            if self._events[event_id].entity["type"] == kind
            and self._events[event_id].entity["id"] == entity_id
        ]

    # ------------------------------------------------------------------ catalogue

    @_reads
    def list_regions(self) -> list[dict]:
        return [dict(region) for region in catalog.REGIONS]

    @_reads
    def get_region(self, region_id: str) -> dict:
        return dict(self._catalog_entry(catalog.REGIONS, region_id))

    @_reads
    def list_types(self) -> list[dict]:
        return [dict(linode_type) for linode_type in catalog.TYPES]

    @_reads
    def get_type(self, type_id: str) -> dict:
        return dict(self._catalog_entry(catalog.TYPES, type_id))

    @staticmethod
    def _catalog_entry(collection: list[dict], item_id: str) -> dict:
        entry = catalog.find(collection, item_id)
        if entry is None:
            raise not_found()
        return entry

    def _apply_changes(self, model, changes: dict, names: tuple) -> None:
        """Set the changed fields among ``names`` (tags registered as account tags) and stamp ``updated``."""
        if "tags" in changes:
            changes["tags"] = self._use_tags(changes["tags"])
        for name in names:
            if name in changes:
                setattr(model, name, changes[name])
        model.updated = self._stamp()

    # ------------------------------------------------------------------ the data plane

    @_reads
    def tick(self) -> None:
        """Let jobs progress with nobody reading: machines and NodeBalancers live on their own."""
        self._advance()
        for linode_id in self._driver.halted():
            self._machine_halted(linode_id)

    def _machine_halted(self, linode_id: int) -> None:
        """A running Linode's machine powered itself off: the Linode is offline, and Lassie (the Shutdown
        Watchdog) boots it again unless its ``watchdog_enabled`` is off, as on Linode."""
        instance = self._instances.get(linode_id)
        if instance is None or instance.status != "running":
            return
        self._dirty = True
        self._move(instance, "offline")
        if instance.watchdog_enabled:
            config = self._choose_config(instance, instance.booted_config_id)
            self._move(instance, "booting")
            failure = self._boot_for_job(instance)
            self._start_job("lassie_reboot", instance.ref(), config.ref(), fails=bool(failure), failure=failure)

    @_writes
    def resume_machines(self) -> None:
        """After a restart of the emulator: start again the machines of Linodes that were up."""
        for instance in self._instances.values():
            if instance.status in ("booting", "rebooting", "running"):
                failure = self._boot_machine(instance)
                if failure and instance.status == "running":
                    self._move(instance, "offline")

    def close_machines(self) -> None:
        """The emulator stops: every machine stops with it (their Linodes stay as recorded)."""
        with self._lock:
            self._driver.close()

    @_reads
    def balancer_configs(self) -> list[dict]:
        """Every TCP-based NodeBalancer config with its NodeBalancer's address, for the proxies (UDP ports
        are recorded but not proxied)."""
        return [
            {"id": config.id, "address": self._nodebalancers[config.nodebalancer_id].ipv4, **config.settings}
            for config in self._nodebalancer_configs.values()
            if config.settings["protocol"] != "udp"
        ]

    @_reads
    def balancer_nodes(self, config_id: int) -> list[dict]:
        """The nodes of a config as the proxy needs them (id, address, mode, status)."""
        return [node.to_json() for node in self._nodes_of(config_id)]

    @_writes
    def set_node_status(self, node_id: int, status: str) -> None:
        """Record a health-check verdict (UP or DOWN) on a node that still exists."""
        node = self._nodebalancer_nodes.get(node_id)
        if node is not None and node.status != status:
            node.status = status

    # ------------------------------------------------------------------ tags

    @_reads
    def list_tags(self) -> list[dict]:
        return [{"label": label} for label in sorted(self._tags)]

    @_reads
    def tagged_objects(self, label: str) -> list[dict]:
        """``{"type", "data"}`` for every Linode, volume and NodeBalancer carrying the tag."""
        self._advance()
        if label not in self._tags:
            raise not_found()
        tagged = [
            {"type": "linode", "data": i.to_json()} for i in self._instances.values() if label in i.tags
        ]
        tagged += [
            {"type": "volume", "data": self._volume_json(v)}
            for v in self._volumes.values()
            if label in v.tags
        ]
        tagged += [
            {"type": "nodebalancer", "data": nb.to_json()}
            for nb in self._nodebalancers.values()
            if label in nb.tags
        ]
        return tagged

    @_writes
    def create_tag(self, label: str | None, linodes=(), volumes=(), nodebalancers=()) -> dict:
        """Create a tag, optionally applying it to the given objects at once."""
        if label is None:
            raise invalid("label", "label is required")
        validation.check_tags([label], "label")
        targets = [
            *(self._instance(i) for i in linodes),
            *(self._volume(v) for v in volumes),
            *(self._nodebalancer(n) for n in nodebalancers),
        ]
        self._tags.add(label)
        for target in targets:
            if label not in target.tags:
                target.tags = [*target.tags, label]
        return {"label": label}

    @_writes
    def delete_tag(self, label: str) -> None:
        """Delete a tag and remove it from every object."""
        if label not in self._tags:
            raise not_found()
        self._tags.discard(label)
        objects = [self._instances, self._volumes, self._nodebalancers, self._firewalls]
        for target in [obj for collection in objects for obj in collection.values()]:
            if label in target.tags:
                target.tags = [tag for tag in target.tags if tag != label]

    def _use_tags(self, tags: list[str]) -> list[str]:
        """Validate tags, register new ones, and return them without duplicates."""
        validation.check_tags(tags)
        unique = list(dict.fromkeys(tags))
        self._tags.update(unique)
        return unique

    # ------------------------------------------------------------------ events

    @_reads
    def list_events(self) -> list[dict]:
        """Every event, newest first."""
        self._observe_events(list(self._events.values()))
        return [event.to_json() for event in sorted(self._events.values(), key=lambda e: e.id, reverse=True)]

    @_reads
    def get_event(self, event_id: int) -> dict:
        event = self._events.get(event_id)
        if event is None:
            raise not_found()
        self._observe_events([event])
        return event.to_json()

    # ------------------------------------------------------------------ injected failures

    @_writes
    def fail_next_boot(self, linode_id: int) -> None:
        """The next boot of this Linode ends ``offline`` with a failed ``linode_boot`` event."""
        self._instance(linode_id)
        self._boot_failures.add(linode_id)

    @_writes
    def fail_boots(self, count: int, skip: int = 0) -> dict:
        """Of the boots of any Linode to come, let ``skip`` pass and make the ``count`` next ones fail as
        :meth:`fail_next_boot` does. Replaces the previous plan (``count`` 0 clears it); returns the plan."""
        self._boot_failure_plan = {"skip": skip, "count": count}
        return dict(self._boot_failure_plan)

    @_writes
    def fail_next_captures(self, count: int) -> None:
        """The next ``count`` captures fail: ``disk_imagize`` ends ``failed`` and the image goes away."""
        self._capture_failures = count
