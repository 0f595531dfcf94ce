"""All emulator state, its status machines and its events. No HTTP knowledge.

Every public method is a verb of the API (``create_instance``, ``boot_instance``, ...): it runs under
the one lock, first lets pending jobs progress (``_advance``), checks the request against the
domain rules (raising ``EmuApiError``), changes the state, and returns Linode's JSON view of the
result. Mutations are saved to the state store before the verb returns.
"""

from __future__ import annotations

import hashlib
import threading

from linode_emu import catalog, validation
from linode_emu.errors import EmuApiError, invalid, linode_busy, not_found
from linode_emu.firewalls import FIREWALL_ID_BASES, FirewallFamily
from linode_emu.machines import BootRequest, MachineDriver, MachineError
from linode_emu.models import (
    NODEBALANCER_CONFIG_DEFAULTS,
    Config,
    Disk,
    Event,
    Image,
    Instance,
    Job,
    NodeBalancer,
    NodeBalancerConfig,
    NodeBalancerNode,
    Volume,
    api_time,
    entity_ref,
    to_state,
)
from linode_emu.store import StateStore
from linode_emu.transitions import SystemClock, TransitionPolicy, check_transition
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes

SWAP_MB = 512
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


def loopback_address(n: int) -> str:
    """The n-th private IPv4 handed out: 127.0.1.1, 127.0.1.2, ... (never 127.0.0.x, never .0/.255).

    Loopback addresses rather than 192.168.x.y because emulated machines (a later driver) bind to
    them for real on the host, where all of 127.0.0.0/8 reaches the host itself.
    """
    block, host = divmod(n, 254)
    second, third = divmod(block, 255)
    return f"127.{second}.{third + 1}.{host + 1}"


class Backend(FirewallFamily):
    """The emulated Linode account. Resource families with a module of their own are mixed in
    (``linode_emu.firewalls``); the rest still lives here."""

    def __init__(
        self,
        store: StateStore | None = None,
        clock=None,
        policy: TransitionPolicy | None = None,
        driver: MachineDriver | None = None,
    ):
        self._lock = threading.RLock()
        self._store = store
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
        if self._dirty and self._store:
            self._store.save(self._to_state())
        self._dirty = False

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

    # ------------------------------------------------------------------ job completions

    def _finish_linode_create(self, event: Event, job: Job, end: float) -> None:
        instance = self._instances[event.entity["id"]]
        self._mark_disks_ready(instance)
        self._boot_or_stop(instance, job, end)

    def _finish_linode_rebuild(self, event: Event, job: Job, end: float) -> None:
        self._finish_linode_create(event, job, end)

    def _finish_linode_boot(self, event: Event, job: Job, end: float) -> None:
        instance = self._instances[event.entity["id"]]
        if job.fails:
            event.message = f"Linode failed to boot: {job.params.get('failure') or 'the kernel did not start'}"
            self._driver.shutdown(instance.id)
            self._move(instance, "offline")
        else:
            self._move(instance, "running")

    def _finish_linode_reboot(self, event: Event, job: Job, end: float) -> None:
        self._finish_linode_boot(event, job, end)

    def _finish_lassie_reboot(self, event: Event, job: Job, end: float) -> None:
        self._finish_linode_boot(event, job, end)

    def _finish_linode_shutdown(self, event: Event, job: Job, end: float) -> None:
        self._move(self._instances[event.entity["id"]], "offline")

    def _finish_linode_delete(self, event: Event, job: Job, end: float) -> None:
        linode_id = event.entity["id"]
        del self._instances[linode_id]
        self._disks = {key: disk for key, disk in self._disks.items() if disk.linode_id != linode_id}
        self._configs = {key: cfg for key, cfg in self._configs.items() if cfg.linode_id != linode_id}

    def _finish_disk_imagize(self, event: Event, job: Job, end: float) -> None:
        image = self._images[job.params["image_id"]]
        if job.fails:
            event.message = "Image creation failed: the disk could not be read"
            del self._images[image.id]
            self._driver.delete_image(image.id)
            return
        check_transition("image", image.status, "available")
        image.status = "available"
        image.regions = [{"region": job.params["region"], "status": "available"}]
        image.updated = api_time(end)

    def _finish_volume_create(self, event: Event, job: Job, end: float) -> None:
        volume = self._volumes[event.entity["id"]]
        check_transition("volume", volume.status, "active")
        volume.status = "active"
        volume.updated = api_time(end)

    def _finish_volume_attach(self, event: Event, job: Job, end: float) -> None:
        """Attaching is visible at once (``linode_id``); only the event takes time."""

    def _finish_volume_detach(self, event: Event, job: Job, end: float) -> None:
        """Detaching is visible at once; only the event takes time."""

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

    # ------------------------------------------------------------------ instances

    @_writes
    def create_instance(
        self,
        *,
        region: str | None,
        type: str | None,
        image: str | None = None,
        label: str | None = None,
        tags: list[str] | None = None,
        group: str = "",
        root_pass: str | None = None,
        authorized_keys: list[str] | None = None,
        authorized_users: list[str] | None = None,
        booted: bool | None = None,
        user_data: str | None = None,
        firewall_id: int | None = None,
    ) -> dict:
        """Create a Linode: ``provisioning``, then (with an image and ``booted``) boot it. With
        ``firewall_id`` it is a device of that Firewall from the start."""
        self._advance()
        self._check_region(region)
        linode_type = self._check_type(type)
        source = self._check_deploy(image, root_pass, authorized_keys, authorized_users, user_data)
        if label is not None:
            self._check_unique_label(label, None)
        firewall = self._firewall_to_assign(firewall_id, "linode")
        tags = self._use_tags(tags or [])
        instance_id = self._next_id("linode")
        now = self._stamp()
        instance = Instance(
            id=instance_id,
            label=label if label is not None else f"linode{instance_id}",
            region=region,
            type=type,
            image=image,
            status="provisioning",
            created=now,
            updated=now,
            ipv4=[loopback_address(self._next_id("address"))],
            host_uuid=hashlib.sha1(f"linode-host-{instance_id}".encode()).hexdigest(),
            tags=tags,
            group=group,
            user_data=user_data,
        )
        self._instances[instance_id] = instance
        if source:
            self._deploy_disks(instance, source, linode_type)
        secondary = self._image_ref(source) if source else None
        self._start_job("linode_create", instance.ref(), secondary, boot=bool(source) and booted is not False)
        self._assign_at_create(firewall, instance)
        return instance.to_json()

    @_reads
    def list_instances(self) -> list[dict]:
        self._observe("linode", self._instances)
        return [instance.to_json() for instance in self._instances.values()]

    @_reads
    def get_instance(self, linode_id: int) -> dict:
        self._observe("linode", [linode_id])
        return self._instance(linode_id).to_json()

    @_writes
    def update_instance(self, linode_id: int, changes: dict) -> dict:
        """Change ``label``, ``tags``, ``group``, ``watchdog_enabled`` and/or ``alerts``."""
        self._advance()
        instance = self._instance(linode_id)
        if "label" in changes:
            self._check_unique_label(changes["label"], linode_id)
        self._apply_changes(instance, changes, ("label", "tags", "group", "watchdog_enabled", "alerts"))
        self._notify("linode_update", instance.ref())
        return instance.to_json()

    @_writes
    def delete_instance(self, linode_id: int) -> None:
        """Delete a Linode: detach its volumes, drop its NodeBalancer nodes, ``deleting`` then gone."""
        self._advance()
        instance = self._instance(linode_id)
        if instance.status == "deleting":
            return
        for event in self._jobs_of("linode", linode_id):
            self._cancel(event, "Linode deleted")
        for volume in self._volumes.values():
            if volume.linode_id == linode_id:
                self._detach(volume)
        self._delete_nodes_at(instance.ipv4)
        self._forget_devices("linode", linode_id)
        self._move(instance, "deleting")
        self._driver.delete(instance.id, [disk.id for disk in self._disks_of(instance.id)])
        self._start_job("linode_delete", instance.ref(), None)

    @_writes
    def boot_instance(self, linode_id: int, config_id: int | None = None) -> None:
        """Boot an offline Linode (a running one stays as it is)."""
        self._advance()
        instance = self._idle_instance(linode_id)
        if instance.status == "running":
            return
        self._start_boot(instance, self._choose_config(instance, config_id), self._now())

    @_writes
    def shutdown_instance(self, linode_id: int) -> None:
        """Shut a Linode down (an offline one stays as it is)."""
        self._advance()
        instance = self._idle_instance(linode_id)
        if instance.status == "offline":
            return
        self._move(instance, "shutting_down")
        self._driver.shutdown(instance.id)
        self._start_job("linode_shutdown", instance.ref(), None)

    @_writes
    def reboot_instance(self, linode_id: int, config_id: int | None = None) -> None:
        """Reboot a running Linode; an offline one is booted."""
        self._advance()
        instance = self._idle_instance(linode_id)
        config = self._choose_config(instance, config_id)
        if instance.status == "offline":
            self._start_boot(instance, config, self._now())
            return
        self._move(instance, "rebooting")
        self._driver.shutdown(instance.id)
        instance.booted_config_id = config.id
        failure = self._boot_for_job(instance)
        self._start_job("linode_reboot", instance.ref(), config.ref(), fails=bool(failure), failure=failure)

    @_writes
    def rebuild_instance(
        self,
        linode_id: int,
        *,
        image: str | None,
        root_pass: str | None = None,
        authorized_keys: list[str] | None = None,
        authorized_users: list[str] | None = None,
        booted: bool | None = None,
        user_data: str | None = None,
    ) -> dict:
        """Re-image a Linode in place (same id and IPs, new disks and config), then boot it."""
        self._advance()
        instance = self._idle_instance(linode_id)
        if not image:
            raise invalid("image", "image is required")
        source = self._check_deploy(image, root_pass, authorized_keys, authorized_users, user_data)
        self._driver.delete(instance.id, [disk.id for disk in self._disks_of(instance.id)])
        self._move(instance, "rebuilding")
        self._disks = {key: disk for key, disk in self._disks.items() if disk.linode_id != linode_id}
        self._configs = {key: cfg for key, cfg in self._configs.items() if cfg.linode_id != linode_id}
        instance.image = image
        instance.user_data = user_data
        instance.booted_config_id = None
        instance.updated = self._stamp()
        self._deploy_disks(instance, source, catalog.find(catalog.TYPES, instance.type))
        self._start_job("linode_rebuild", instance.ref(), self._image_ref(source), boot=booted is not False)
        return instance.to_json()

    @_reads
    def list_disks(self, linode_id: int) -> list[dict]:
        self._observe("linode", [linode_id])
        self._instance(linode_id)
        return [disk.to_json() for disk in self._disks.values() if disk.linode_id == linode_id]

    @_reads
    def get_disk(self, linode_id: int, disk_id: int) -> dict:
        self._observe("linode", [linode_id])
        return self._disk(linode_id, disk_id).to_json()

    @_reads
    def list_configs(self, linode_id: int) -> list[dict]:
        self._advance()
        self._instance(linode_id)
        return [config.to_json() for config in self._configs.values() if config.linode_id == linode_id]

    @_reads
    def get_config(self, linode_id: int, config_id: int) -> dict:
        self._advance()
        config = self._configs.get(config_id)
        if config is None or config.linode_id != linode_id:
            raise not_found()
        return config.to_json()

    @_reads
    def list_instance_volumes(self, linode_id: int) -> list[dict]:
        self._advance()
        instance = self._instance(linode_id)
        return [
            self._volume_json(volume) for volume in self._volumes.values() if volume.linode_id == instance.id
        ]

    def _instance(self, linode_id: int) -> Instance:
        instance = self._instances.get(linode_id)
        if instance is None:
            raise not_found()
        return instance

    def _idle_instance(self, linode_id: int) -> Instance:
        """The Linode, or ``Linode busy.`` when a job (create, boot, capture, ...) runs on it."""
        instance = self._instance(linode_id)
        if self._jobs_of("linode", linode_id):
            raise linode_busy()
        return instance

    def _disk(self, linode_id: int, disk_id: int) -> Disk:
        disk = self._disks.get(disk_id)
        if disk is None or disk.linode_id != linode_id:
            raise not_found()
        return disk

    def _move(self, instance: Instance, status: str) -> None:
        check_transition("linode", instance.status, status)
        instance.status = status
        instance.updated = self._stamp()

    def _start_boot(self, instance: Instance, config: Config, start: float) -> None:
        self._move(instance, "booting")
        instance.booted_config_id = config.id
        failure = self._boot_for_job(instance)
        self._start_job(
            "linode_boot", instance.ref(), config.ref(), start=start, fails=bool(failure), failure=failure
        )

    def _boot_for_job(self, instance: Instance) -> str | None:
        """The boot of a job (a boot, a reboot, the boot that follows a create or a rebuild): an injected
        failure, else the machine's start. Returns why the boot fails, or None."""
        if self._take_boot_failure(instance):
            return "the kernel did not start"
        return self._boot_machine(instance)

    def _boot_machine(self, instance: Instance) -> str | None:
        """Start the machine behind ``instance``; returns why the boot fails, or None."""
        try:
            self._driver.boot(self._boot_request(instance))
        except MachineError as err:
            return str(err)
        return None

    def _boot_request(self, instance: Instance) -> BootRequest:
        attached = [volume for volume in self._volumes.values() if volume.linode_id == instance.id]
        return BootRequest(
            linode_id=instance.id,
            label=instance.label,
            address=instance.ipv4[0],
            disk_id=self._root_disk(instance.id).id,
            user_data=instance.user_data,
            volumes={volume.filesystem_path(): volume.id for volume in attached},
        )

    def _apply_changes(self, model, changes: dict, names: tuple) -> None:
        """Set the changed fields among ``names`` (tags registered as account tags) and stamp ``updated``."""
        if "tags" in changes:
            changes["tags"] = self._use_tags(changes["tags"])
        for name in names:
            if name in changes:
                setattr(model, name, changes[name])
        model.updated = self._stamp()

    def _disks_of(self, linode_id: int) -> list[Disk]:
        return [disk for disk in self._disks.values() if disk.linode_id == linode_id]

    def _root_disk(self, linode_id: int) -> Disk:
        return next(disk for disk in self._disks_of(linode_id) if disk.filesystem == "ext4")

    def _boot_or_stop(self, instance: Instance, job: Job, end: float) -> None:
        configs = [config for config in self._configs.values() if config.linode_id == instance.id]
        if job.params["boot"] and configs:
            self._start_boot(instance, configs[0], end)
        else:
            self._move(instance, "offline")

    def _take_boot_failure(self, instance: Instance) -> bool:
        """Whether this boot was made to fail: for this Linode, or by the plan. Every boot moves the plan on."""
        planned = self._take_planned_boot_failure()
        failing = instance.id in self._boot_failures
        self._boot_failures.discard(instance.id)
        return failing or planned

    def _take_planned_boot_failure(self) -> bool:
        """Count one boot against the plan: the first ``skip`` boots pass, the ``count`` next ones fail."""
        plan = self._boot_failure_plan
        if plan["skip"] > 0:
            plan["skip"] -= 1
            return False
        if plan["count"] > 0:
            plan["count"] -= 1
            return True
        return False

    def _choose_config(self, instance: Instance, config_id: int | None) -> Config:
        """The given config, else the one booted last, else the only one."""
        configs = {config.id: config for config in self._configs.values() if config.linode_id == instance.id}
        if config_id is not None:
            if config_id not in configs:
                raise invalid("config_id", "Not found")
            return configs[config_id]
        if instance.booted_config_id in configs:
            return configs[instance.booted_config_id]
        if len(configs) == 1:
            return next(iter(configs.values()))
        raise invalid("config_id", "A config profile must be given: this Linode has none or several")

    def _check_region(self, region: str | None) -> None:
        if not region:
            raise invalid("region", "region is required")
        if catalog.find(catalog.REGIONS, region) is None:
            raise invalid("region", "region is not valid")

    @staticmethod
    def _check_type(type_id: str | None) -> dict:
        if not type_id:
            raise invalid("type", "type is required")
        linode_type = catalog.find(catalog.TYPES, type_id)
        if linode_type is None:
            raise invalid("type", "type is not valid")
        return linode_type

    def _check_deploy(self, image, root_pass, authorized_keys, authorized_users, user_data) -> dict | None:
        """The JSON of the image to deploy (None without one), after checking credentials and metadata."""
        if image is None:
            if user_data is not None:
                raise invalid("metadata.user_data", "An image with the cloud-init capability is required")
            return None
        source = self._image_json(image)
        if source is None or source["status"] != "available":
            raise invalid("image", "image is not valid")
        if not (root_pass or authorized_keys or authorized_users):
            raise invalid("root_pass", "root_pass is required when deploying an image")
        if root_pass is not None:
            validation.check_root_pass(root_pass)
        if user_data is not None:
            validation.check_user_data(user_data)
            if "cloud-init" not in source["capabilities"]:
                raise invalid("metadata.user_data", "The image does not support cloud-init")
        return source

    def _check_unique_label(self, label: str, linode_id: int) -> None:
        validation.check_linode_label(label)
        if any(other.label == label and other.id != linode_id for other in self._instances.values()):
            raise invalid("label", "Label must be unique among your linodes")

    def _deploy_disks(self, instance: Instance, source: dict, linode_type: dict) -> None:
        """The disks and config of a Linode deployed from ``source``: ext4 root + 512 MB swap."""
        now = self._stamp()
        root = Disk(
            id=self._next_id("disk"),
            linode_id=instance.id,
            label=f"{source['label']} Disk",
            size=linode_type["disk"] - SWAP_MB,
            filesystem="ext4",
            status="not ready",
            created=now,
            updated=now,
        )
        swap = Disk(
            id=self._next_id("disk"),
            linode_id=instance.id,
            label=f"{SWAP_MB} MB Swap Image",
            size=SWAP_MB,
            filesystem="swap",
            status="not ready",
            created=now,
            updated=now,
        )
        config = Config(
            id=self._next_id("config"),
            linode_id=instance.id,
            label=f"My {source['label']} Disk Profile",
            devices={
                "sda": {"disk_id": root.id, "volume_id": None},
                "sdb": {"disk_id": swap.id, "volume_id": None},
            },
            created=now,
            updated=now,
        )
        for disk in (root, swap):
            self._disks[disk.id] = disk
        self._configs[config.id] = config
        self._driver.prepare_disk(root.id, source["id"] if source["id"].startswith("private/") else None)

    def _mark_disks_ready(self, instance: Instance) -> None:
        for disk in self._disks.values():
            if disk.linode_id == instance.id:
                disk.status = "ready"

    # ------------------------------------------------------------------ images

    @_writes
    def create_image(
        self,
        *,
        disk_id: int | None,
        label: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        cloud_init: bool = False,
    ) -> dict:
        """Capture a disk of an offline Linode as a private image (``disk_imagize``)."""
        self._advance()
        disk = self._imageable_disk(disk_id)
        instance = self._idle_instance(disk.linode_id)
        if instance.status != "offline":
            raise invalid("disk_id", "The Linode must be shut down before one of its disks is imaged")
        label = label if label is not None else disk.label
        validation.check_length("label", label, 1, 128)
        if description is not None:
            validation.check_length("description", description, 1, 65000)
        tags = self._use_tags(tags or [])
        now = self._stamp()
        image = Image(
            id=f"private/{self._next_id('image')}",
            label=label,
            description=description,
            size=disk.size,
            status="creating",
            created=now,
            updated=now,
            capabilities=["cloud-init"] if cloud_init else [],
            tags=tags,
            regions=[],
            created_by="emulator",
        )
        fails = self._capture_failures > 0
        self._capture_failures -= int(fails)
        try:
            image.size = self._driver.capture(disk.id, image.id) or image.size
        except MachineError as err:
            raise invalid("disk_id", f"The disk could not be imaged: {err}") from err
        self._images[image.id] = image
        self._start_job(
            "disk_imagize",
            instance.ref(),
            image.ref(),
            fails=fails,
            image_id=image.id,
            region=instance.region,
        )
        return image.to_json()

    @_reads
    def list_images(self) -> list[dict]:
        self._observe("image", self._images)
        return [dict(image) for image in catalog.PUBLIC_IMAGES] + [i.to_json() for i in self._images.values()]

    @_reads
    def get_image(self, image_id: str) -> dict:
        self._observe("image", [image_id])
        image = self._image_json(image_id)
        if image is None:
            raise not_found()
        return image

    @_writes
    def update_image(self, image_id: str, changes: dict) -> dict:
        """Change a private image's ``label``, ``description`` and/or ``tags``."""
        self._advance()
        image = self._private_image(image_id)
        self._apply_changes(image, changes, ("label", "description", "tags"))
        self._notify("image_update", image.ref())
        return image.to_json()

    @_writes
    def delete_image(self, image_id: str) -> None:
        """Delete a private image; a capture still running for it fails."""
        self._advance()
        image = self._private_image(image_id)
        for event_id in sorted(self._active):
            event = self._events[event_id]
            if event.action == "disk_imagize" and event.job.params["image_id"] == image_id:
                self._cancel(event, "Image deleted")
        self._images.pop(image_id, None)
        self._driver.delete_image(image_id)
        self._notify("image_delete", image.ref())

    def _image_json(self, image_id: str) -> dict | None:
        public = catalog.find(catalog.PUBLIC_IMAGES, image_id)
        if public is not None:
            return dict(public)
        image = self._images.get(image_id)
        return image.to_json() if image else None

    @staticmethod
    def _image_ref(image: dict) -> dict:
        return entity_ref("image", image["id"], image["label"], f"/images/{image['id']}")

    def _private_image(self, image_id: str) -> Image:
        image = self._images.get(image_id)
        if image is None:
            if catalog.find(catalog.PUBLIC_IMAGES, image_id):
                raise EmuApiError(403, "Unauthorized")
            raise not_found()
        return image

    def _imageable_disk(self, disk_id: int | None) -> Disk:
        if disk_id is None:
            raise invalid("disk_id", "disk_id is required")
        disk = self._disks.get(disk_id)
        if disk is None:
            raise invalid("disk_id", "Not found")
        if disk.filesystem not in ("ext3", "ext4"):
            raise invalid("disk_id", "Only ext3 and ext4 disks can be imaged")
        return disk

    # ------------------------------------------------------------------ volumes

    @_writes
    def create_volume(
        self,
        *,
        label: str | None,
        size: int = 20,
        region: str | None = None,
        linode_id: int | None = None,
        config_id: int | None = None,
        tags: list[str] | None = None,
    ) -> dict:
        """Create a volume (``creating`` then ``active``), attached at once when ``linode_id`` is given."""
        self._advance()
        if label is None:
            raise invalid("label", "label is required")
        validation.check_volume_label(label)
        validation.check_range("size", size, 10, 10240)
        instance = self._attach_target(linode_id, region) if linode_id is not None else None
        if instance is None:
            self._check_region(region)
        tags = self._use_tags(tags or [])
        now = self._stamp()
        volume = Volume(
            id=self._next_id("volume"),
            label=label,
            region=instance.region if instance else region,
            size=size,
            status="creating",
            created=now,
            updated=now,
            tags=tags,
        )
        if instance:
            self._plug(volume, instance, config_id)
        self._volumes[volume.id] = volume
        self._start_job("volume_create", volume.ref(), None)
        return self._volume_json(volume)

    @_reads
    def list_volumes(self) -> list[dict]:
        self._observe("volume", self._volumes)
        return [self._volume_json(volume) for volume in self._volumes.values()]

    @_reads
    def get_volume(self, volume_id: int) -> dict:
        self._observe("volume", [volume_id])
        return self._volume_json(self._volume(volume_id))

    @_writes
    def update_volume(self, volume_id: int, changes: dict) -> dict:
        """Change a volume's ``label`` and/or ``tags``."""
        self._advance()
        volume = self._volume(volume_id)
        if "label" in changes:
            validation.check_volume_label(changes["label"])
        self._apply_changes(volume, changes, ("label", "tags"))
        self._notify("volume_update", volume.ref())
        return self._volume_json(volume)

    @_writes
    def attach_volume(self, volume_id: int, linode_id: int | None, config_id: int | None = None) -> dict:
        """Attach a volume to a Linode of its region, into ``config_id`` or the last booted config."""
        self._advance()
        volume = self._volume(volume_id)
        if linode_id is None:
            raise invalid("linode_id", "linode_id is required")
        if volume.linode_id is not None:
            raise invalid("linode_id", "Volume is already attached to a Linode")
        instance = self._attach_target(linode_id, volume.region)
        self._plug(volume, instance, config_id)
        self._start_job("volume_attach", volume.ref(), instance.ref())
        return self._volume_json(volume)

    @_writes
    def detach_volume(self, volume_id: int) -> None:
        self._advance()
        volume = self._volume(volume_id)
        if volume.linode_id is not None:
            self._detach(volume)

    @_writes
    def delete_volume(self, volume_id: int) -> None:
        self._advance()
        volume = self._volume(volume_id)
        if volume.linode_id is not None:
            raise EmuApiError(400, "Volume must be detached before it can be deleted.")
        for event in self._jobs_of("volume", volume_id):
            self._cancel(event, "Volume deleted")
        del self._volumes[volume_id]
        self._driver.delete_volume(volume_id)
        self._notify("volume_delete", volume.ref())

    def _volume(self, volume_id: int) -> Volume:
        volume = self._volumes.get(volume_id)
        if volume is None:
            raise not_found()
        return volume

    def _volume_json(self, volume: Volume) -> dict:
        instance = self._instances.get(volume.linode_id)
        return volume.to_json(instance.label if instance else None)

    def _attach_target(self, linode_id: int, region: str | None) -> Instance:
        instance = self._instances.get(linode_id)
        if instance is None or instance.status == "deleting":
            raise invalid("linode_id", "Not found")
        if region is not None and region != instance.region:
            raise invalid("linode_id", "The Volume and the Linode must be in the same region")
        return instance

    def _plug(self, volume: Volume, instance: Instance, config_id: int | None) -> None:
        """Set ``linode_id`` and put the volume into a free device slot of the chosen config."""
        configs = {config.id: config for config in self._configs.values() if config.linode_id == instance.id}
        if config_id is not None and config_id not in configs:
            raise invalid("config_id", "Not found")
        chosen = configs.get(config_id if config_id is not None else instance.booted_config_id)
        config = chosen or next(iter(configs.values()), None)
        if config is not None:
            slot = config.free_slot()
            if slot is None:
                raise invalid("config_id", "The config has no free device slot")
            config.devices[slot] = {"disk_id": None, "volume_id": volume.id}
            config.updated = self._stamp()
        volume.linode_id = instance.id
        volume.updated = self._stamp()

    def _detach(self, volume: Volume) -> None:
        instance = self._instances[volume.linode_id]
        for config in self._configs.values():
            if config.linode_id != instance.id:
                continue
            for slot, device in list(config.devices.items()):
                if device and device.get("volume_id") == volume.id:
                    config.devices[slot] = None
        volume.linode_id = None
        volume.updated = self._stamp()
        self._start_job("volume_detach", volume.ref(), instance.ref())

    # ------------------------------------------------------------------ nodebalancers

    @_writes
    def create_nodebalancer(
        self,
        *,
        region: str | None,
        label: str | None = None,
        tags: list[str] | None = None,
        client_conn_throttle: int = 0,
        firewall_id: int | None = None,
    ) -> dict:
        self._advance()
        self._check_region(region)
        if label is not None:
            validation.check_nodebalancer_label(label)
        validation.check_range("client_conn_throttle", client_conn_throttle, 0, 20)
        firewall = self._firewall_to_assign(firewall_id, "nodebalancer")
        tags = self._use_tags(tags or [])
        nodebalancer_id = self._next_id("nodebalancer")
        now = self._stamp()
        nodebalancer = NodeBalancer(
            id=nodebalancer_id,
            label=label if label is not None else f"nodebalancer{nodebalancer_id}",
            region=region,
            ipv4=loopback_address(self._next_id("address")),
            created=now,
            updated=now,
            tags=tags,
            client_conn_throttle=client_conn_throttle,
        )
        self._nodebalancers[nodebalancer.id] = nodebalancer
        self._notify("nodebalancer_create", nodebalancer.ref())
        self._assign_at_create(firewall, nodebalancer)
        return nodebalancer.to_json()

    @_reads
    def list_nodebalancers(self) -> list[dict]:
        self._advance()
        return [nodebalancer.to_json() for nodebalancer in self._nodebalancers.values()]

    @_reads
    def get_nodebalancer(self, nodebalancer_id: int) -> dict:
        self._advance()
        return self._nodebalancer(nodebalancer_id).to_json()

    @_writes
    def update_nodebalancer(self, nodebalancer_id: int, changes: dict) -> dict:
        """Change ``label``, ``tags`` and/or ``client_conn_throttle``."""
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        if "label" in changes:
            validation.check_nodebalancer_label(changes["label"])
        if "client_conn_throttle" in changes:
            validation.check_range("client_conn_throttle", changes["client_conn_throttle"], 0, 20)
        self._apply_changes(nodebalancer, changes, ("label", "tags", "client_conn_throttle"))
        self._notify("nodebalancer_update", nodebalancer.ref())
        return nodebalancer.to_json()

    @_writes
    def delete_nodebalancer(self, nodebalancer_id: int) -> None:
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        self._forget_devices("nodebalancer", nodebalancer_id)
        del self._nodebalancers[nodebalancer_id]
        self._nodebalancer_configs = {
            key: cfg
            for key, cfg in self._nodebalancer_configs.items()
            if cfg.nodebalancer_id != nodebalancer_id
        }
        self._nodebalancer_nodes = {
            key: node
            for key, node in self._nodebalancer_nodes.items()
            if node.nodebalancer_id != nodebalancer_id
        }
        self._notify("nodebalancer_delete", nodebalancer.ref())

    @_writes
    def create_nodebalancer_config(self, nodebalancer_id: int, settings: dict) -> dict:
        """Add a port; ``settings`` are NODEBALANCER_CONFIG_DEFAULTS keys (the rest take defaults)."""
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        merged = {**NODEBALANCER_CONFIG_DEFAULTS, **settings}
        self._check_config_settings(nodebalancer_id, merged, None)
        config = NodeBalancerConfig(
            id=self._next_id("nodebalancer_config"), nodebalancer_id=nodebalancer_id, settings=merged
        )
        self._nodebalancer_configs[config.id] = config
        self._notify("nodebalancer_config_create", nodebalancer.ref())
        return config.to_json([])

    @_reads
    def list_nodebalancer_configs(self, nodebalancer_id: int) -> list[dict]:
        self._advance()
        self._nodebalancer(nodebalancer_id)
        return [
            config.to_json(self._nodes_of(config.id))
            for config in self._nodebalancer_configs.values()
            if config.nodebalancer_id == nodebalancer_id
        ]

    @_reads
    def get_nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> dict:
        self._advance()
        config = self._nodebalancer_config(nodebalancer_id, config_id)
        return config.to_json(self._nodes_of(config_id))

    @_writes
    def update_nodebalancer_config(self, nodebalancer_id: int, config_id: int, settings: dict) -> dict:
        self._advance()
        config = self._nodebalancer_config(nodebalancer_id, config_id)
        merged = {**config.settings, **settings}
        self._check_config_settings(nodebalancer_id, merged, config_id)
        config.settings = merged
        self._notify("nodebalancer_config_update", self._nodebalancers[nodebalancer_id].ref())
        return config.to_json(self._nodes_of(config_id))

    @_writes
    def delete_nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> None:
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        del self._nodebalancer_configs[config_id]
        self._nodebalancer_nodes = {
            key: node for key, node in self._nodebalancer_nodes.items() if node.config_id != config_id
        }
        self._notify("nodebalancer_config_delete", self._nodebalancers[nodebalancer_id].ref())

    @_writes
    def create_nodebalancer_node(
        self,
        nodebalancer_id: int,
        config_id: int,
        *,
        label: str | None,
        address: str | None,
        weight: int = 100,
        mode: str = "accept",
    ) -> dict:
        """Add a backend ``<private ip>:<port>`` to a NodeBalancer config."""
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        if label is None:
            raise invalid("label", "label is required")
        if address is None:
            raise invalid("address", "address is required")
        node = NodeBalancerNode(
            id=self._next_id("nodebalancer_node"),
            config_id=config_id,
            nodebalancer_id=nodebalancer_id,
            label=label,
            address=address,
            weight=weight,
            mode=mode,
        )
        self._check_node(node)
        self._nodebalancer_nodes[node.id] = node
        self._notify("nodebalancer_node_create", self._nodebalancers[nodebalancer_id].ref(), node.ref())
        return node.to_json()

    @_reads
    def list_nodebalancer_nodes(self, nodebalancer_id: int, config_id: int) -> list[dict]:
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        return [node.to_json() for node in self._nodes_of(config_id)]

    @_reads
    def get_nodebalancer_node(self, nodebalancer_id: int, config_id: int, node_id: int) -> dict:
        self._advance()
        return self._node(nodebalancer_id, config_id, node_id).to_json()

    @_writes
    def update_nodebalancer_node(
        self, nodebalancer_id: int, config_id: int, node_id: int, changes: dict
    ) -> dict:
        """Change ``label``, ``address``, ``weight`` and/or ``mode`` (accept|reject|drain|backup)."""
        self._advance()
        node = self._node(nodebalancer_id, config_id, node_id)
        updated = NodeBalancerNode(**{**to_state(node), **changes})
        self._check_node(updated)
        self._nodebalancer_nodes[node_id] = updated
        self._notify("nodebalancer_node_update", self._nodebalancers[nodebalancer_id].ref(), updated.ref())
        return updated.to_json()

    @_writes
    def delete_nodebalancer_node(self, nodebalancer_id: int, config_id: int, node_id: int) -> None:
        self._advance()
        node = self._node(nodebalancer_id, config_id, node_id)
        del self._nodebalancer_nodes[node_id]
        self._notify("nodebalancer_node_delete", self._nodebalancers[nodebalancer_id].ref(), node.ref())

    def _nodebalancer(self, nodebalancer_id: int) -> NodeBalancer:
        nodebalancer = self._nodebalancers.get(nodebalancer_id)
        if nodebalancer is None:
            raise not_found()
        return nodebalancer

    def _nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> NodeBalancerConfig:
        self._nodebalancer(nodebalancer_id)
        config = self._nodebalancer_configs.get(config_id)
        if config is None or config.nodebalancer_id != nodebalancer_id:
            raise not_found()
        return config

    def _node(self, nodebalancer_id: int, config_id: int, node_id: int) -> NodeBalancerNode:
        self._nodebalancer_config(nodebalancer_id, config_id)
        node = self._nodebalancer_nodes.get(node_id)
        if node is None or node.config_id != config_id:
            raise not_found()
        return node

    def _nodes_of(self, config_id: int) -> list[NodeBalancerNode]:
        return [node for node in self._nodebalancer_nodes.values() if node.config_id == config_id]

    def _check_config_settings(self, nodebalancer_id: int, settings: dict, config_id: int | None) -> None:
        validation.check_range("port", settings["port"], 1, 65535)
        for name, choices in (
            ("protocol", ("http", "https", "tcp")),
            ("algorithm", ("roundrobin", "leastconn", "source")),
            ("stickiness", ("none", "table", "http_cookie")),
            ("check", ("none", "connection", "http", "http_body")),
            ("proxy_protocol", ("none", "v1", "v2")),
            ("cipher_suite", ("recommended", "legacy")),
        ):
            validation.check_choice(name, settings[name], choices)
        validation.check_range("check_timeout", settings["check_timeout"], 1, 30)
        validation.check_range("check_attempts", settings["check_attempts"], 1, 30)
        validation.check_range("check_interval", settings["check_interval"], 2, 3600)
        if settings["check"] in ("http", "http_body") and not settings["check_path"]:
            raise invalid("check_path", "check_path is required for http checks")
        for other in self._nodebalancer_configs.values():
            same_port = other.settings["port"] == settings["port"]
            if other.nodebalancer_id == nodebalancer_id and other.id != config_id and same_port:
                raise invalid("port", "Port is already in use by another config of this NodeBalancer")

    @staticmethod
    def _check_node(node: NodeBalancerNode) -> None:
        validation.check_node_label(node.label)
        validation.check_node_address(node.address)
        validation.check_range("weight", node.weight, 1, 255)
        validation.check_choice("mode", node.mode, ("accept", "reject", "drain", "backup"))

    def _delete_nodes_at(self, addresses: list[str]) -> None:
        """Delete the NodeBalancer nodes whose address is one of these IPs (any port)."""
        for node in list(self._nodebalancer_nodes.values()):
            if node.address.rpartition(":")[0] in addresses:
                del self._nodebalancer_nodes[node.id]
                nodebalancer = self._nodebalancers[node.nodebalancer_id]
                self._notify("nodebalancer_node_delete", nodebalancer.ref(), node.ref())

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
        """Every NodeBalancer config with its NodeBalancer's address, for the proxies."""
        return [
            {"id": config.id, "address": self._nodebalancers[config.nodebalancer_id].ipv4, **config.settings}
            for config in self._nodebalancer_configs.values()
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
