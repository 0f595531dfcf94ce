"""Disks and configuration profiles of a Linode (``/linode/instances/{id}/disks``, ``.../configs``), mixed
into the ``Backend`` facade.

Disk jobs (``disk_create``, ``disk_resize``, ``disk_delete``, ``disk_duplicate``) have the Linode as their
entity and the disk as secondary entity, so the Linode is busy meanwhile: a second job answers
``Linode busy.``. A disk is ``not ready`` while a job works on it and ``deleting`` while it is deleted;
the disks of a Linode share its plan's space. A config has one device slot per GB of the plan's memory
(8 to 64: sda..sdh, ..., sdbl); putting a volume in a config attaches it to the Linode.
"""

from __future__ import annotations

from linode_emu import validation
from linode_emu.errors import EmuApiError, FieldProblems, invalid, not_found
from linode_emu.machines import MachineError
from linode_emu.models import Config, Disk, Event, Job, device_limit, device_slots
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes

FILESYSTEMS = ("raw", "swap", "ext3", "ext4", "initrd")
ROOT_FILESYSTEMS = ("ext3", "ext4")
CONFIG_FIELDS = ("label", "kernel", "comments", "root_device")


class DiskFamily:
    """A Linode's disks and configuration profiles."""

    # ------------------------------------------------------------------ disks

    @_reads
    def list_disks(self, linode_id: int) -> list[dict]:
        self._observe("linode", [linode_id])
        self._instance(linode_id)
        return [disk.to_json() for disk in self._disks_of(linode_id)]

    @_reads
    def get_disk(self, linode_id: int, disk_id: int) -> dict:
        self._observe("linode", [linode_id])
        return self._disk(linode_id, disk_id).to_json()

    @_writes
    def create_disk(
        self,
        linode_id: int,
        *,
        size: int | None,
        label: str | None = None,
        filesystem: str | None = None,
        image: str | None = None,
        disk_encryption: str | None = None,
        **credentials,
    ) -> dict:
        """Add a disk, empty or deployed from ``image`` (``credentials``: root_pass, authorized_keys,
        authorized_users, as for a Linode); ``not ready`` until its ``disk_create`` job ends."""
        self._advance()
        instance = self._idle_instance(linode_id)
        problems = FieldProblems()
        problems.value(self._check_disk_size, linode_id, size, None)
        source = problems.value(self._check_deploy, image, **credentials) if image else None
        label = label if label is not None else (f"{source['label']} Disk" if source else None)
        problems.value(self._check_disk_label, label)
        problems.value(validation.check_choice, "filesystem", filesystem or "ext4", FILESYSTEMS)
        problems.value(self._check_encryption, "disk_encryption", disk_encryption)
        problems.raise_any()
        disk = self._new_disk(linode_id, label, size, filesystem or "ext4", disk_encryption or instance.disk_encryption)
        self._disks[disk.id] = disk
        if source:
            self._driver.prepare_disk(disk.id, source["id"] if source["id"].startswith("private/") else None)
        self._start_job("disk_create", instance.ref(), disk.ref(), disk_id=disk.id)
        return disk.to_json()

    @_writes
    def resize_disk(self, linode_id: int, disk_id: int, size: int | None) -> None:
        """Give a disk a new size (MB) within the plan's free space; the Linode must not run from it."""
        self._advance()
        instance = self._idle_instance(linode_id)
        disk = self._disk(linode_id, disk_id)
        self._check_disk_size(linode_id, size, disk)
        if instance.status == "running" and self._in_booted_config(instance, disk):
            raise invalid("size", "The Linode must be shut down before a disk it runs from is resized")
        disk.status = "not ready"
        self._start_job("disk_resize", instance.ref(), disk.ref(), disk_id=disk.id, size=size)

    @_writes
    def delete_disk(self, linode_id: int, disk_id: int) -> None:
        """Delete a disk (``deleting`` until its ``disk_delete`` job ends); configs forget it."""
        self._advance()
        instance = self._idle_instance(linode_id)
        disk = self._disk(linode_id, disk_id)
        if instance.status == "running" and self._in_booted_config(instance, disk):
            raise EmuApiError(400, "The Linode must be shut down before a disk it runs from is deleted")
        disk.status = "deleting"
        self._start_job("disk_delete", instance.ref(), disk.ref(), disk_id=disk.id)

    @_writes
    def clone_disk(self, linode_id: int, disk_id: int) -> dict:
        """Copy a disk into a new disk of the same Linode (``disk_duplicate``), space permitting."""
        self._advance()
        instance = self._idle_instance(linode_id)
        source = self._disk(linode_id, disk_id)
        self._check_disk_size(linode_id, source.size, None)
        label = f"Copy of {source.label}"[:48]
        copy = self._new_disk(linode_id, label, source.size, source.filesystem, source.disk_encryption)
        try:
            self._driver.clone_disk(source.id, copy.id)
        except MachineError as err:
            raise EmuApiError(400, f"Disk {source.id} could not be cloned: {err}") from err
        self._disks[copy.id] = copy
        self._start_job("disk_duplicate", instance.ref(), copy.ref(), disk_id=copy.id)
        return copy.to_json()

    def _finish_disk_create(self, event: Event, job: Job, end: float) -> None:
        self._disks[job.params["disk_id"]].status = "ready"

    def _finish_disk_duplicate(self, event: Event, job: Job, end: float) -> None:
        self._finish_disk_create(event, job, end)

    def _finish_disk_resize(self, event: Event, job: Job, end: float) -> None:
        disk = self._disks[job.params["disk_id"]]
        disk.size = job.params["size"]
        disk.status = "ready"

    def _finish_disk_delete(self, event: Event, job: Job, end: float) -> None:
        disk = self._disks.pop(job.params["disk_id"])
        self._driver.delete_disk(disk.id)
        for config in self._configs_of(disk.linode_id):
            for slot, device in list(config.devices.items()):
                if device and device.get("disk_id") == disk.id:
                    config.devices[slot] = None

    def _new_disk(self, linode_id: int, label: str, size: int, filesystem: str, encryption: str) -> Disk:
        """A ``not ready`` disk, not yet in the account."""
        now = self._stamp()
        return Disk(
            id=self._next_id("disk"),
            linode_id=linode_id,
            label=label,
            size=size,
            filesystem=filesystem,
            status="not ready",
            created=now,
            updated=now,
            disk_encryption=encryption,
        )

    def _check_disk_size(self, linode_id: int, size: int | None, resized: Disk | None) -> None:
        """``size`` (MB) must fit in the plan's space beside the other disks (``resized`` is replaced)."""
        if size is None:
            raise invalid("size", "size is required")
        validation.check_range("size", size, 1, 10_000_000)
        plan = self._plan_of(self._instance(linode_id))
        used = sum(disk.size for disk in self._disks_of(linode_id) if disk is not resized)
        if used + size > plan["disk"]:
            raise invalid("size", f"Insufficient space: {plan['disk'] - used} MB of the plan are free")

    @staticmethod
    def _check_disk_label(label: str | None) -> None:
        if label is None:
            raise invalid("label", "label is required when no image is given")
        validation.check_length("label", label, 1, 48)

    def _in_booted_config(self, instance, disk: Disk) -> bool:
        config = self._configs.get(instance.booted_config_id)
        return config is not None and any(
            device and device.get("disk_id") == disk.id for device in config.devices.values()
        )

    def _disk(self, linode_id: int, disk_id: int) -> Disk:
        disk = self._disks.get(disk_id)
        if disk is None or disk.linode_id != linode_id:
            raise not_found()
        return disk

    def _disks_of(self, linode_id: int) -> list[Disk]:
        return [disk for disk in self._disks.values() if disk.linode_id == linode_id]

    def _root_disk(self, linode_id: int) -> Disk | None:
        """The first ext3/ext4 disk of the Linode (what its machine boots), or None."""
        return next((disk for disk in self._disks_of(linode_id) if disk.filesystem in ROOT_FILESYSTEMS), None)

    # ------------------------------------------------------------------ configs

    @_reads
    def list_configs(self, linode_id: int) -> list[dict]:
        self._advance()
        self._instance(linode_id)
        return [config.to_json() for config in self._configs_of(linode_id)]

    @_reads
    def get_config(self, linode_id: int, config_id: int) -> dict:
        self._advance()
        return self._config(linode_id, config_id).to_json()

    @_writes
    def create_config(self, linode_id: int, *, devices: dict | None, interfaces: list | None = None, **fields):
        """Add a configuration profile; ``fields`` are among CONFIG_FIELDS (``label`` required)."""
        self._advance()
        instance = self._instance(linode_id)
        problems = FieldProblems()
        problems.value(self._check_config_label, fields.get("label"))
        problems.value(self._check_interfaces, interfaces)
        placed = problems.value(self._check_devices, instance, devices or {}, device_slots(self._slots_of(instance)))
        problems.raise_any()
        now = self._stamp()
        config = Config(
            id=self._next_id("config"),
            linode_id=linode_id,
            label=fields.pop("label"),
            devices={},
            created=now,
            updated=now,
            slots=self._slots_of(instance),
            **{name: value for name, value in fields.items() if value is not None},
        )
        self._configs[config.id] = config
        self._place_devices(instance, config, placed)
        self._notify("linode_config_create", instance.ref(), config.ref())
        return config.to_json()

    @_writes
    def update_config(self, linode_id: int, config_id: int, changes: dict) -> dict:
        """Change a profile's CONFIG_FIELDS and/or ``devices`` (the slots given are replaced)."""
        self._advance()
        instance = self._instance(linode_id)
        config = self._config(linode_id, config_id)
        problems = FieldProblems()
        if "label" in changes:
            problems.value(self._check_config_label, changes["label"])
        problems.value(self._check_interfaces, changes.get("interfaces"))
        placed = problems.value(self._check_devices, instance, changes.get("devices") or {}, device_slots(config.slots))
        problems.raise_any()
        for name in CONFIG_FIELDS:
            if changes.get(name) is not None:
                setattr(config, name, changes[name])
        self._place_devices(instance, config, placed)
        config.updated = self._stamp()
        self._notify("linode_config_update", instance.ref(), config.ref())
        return config.to_json()

    def _config(self, linode_id: int, config_id: int) -> Config:
        config = self._configs.get(config_id)
        if config is None or config.linode_id != linode_id:
            raise not_found()
        return config

    def _configs_of(self, linode_id: int) -> list[Config]:
        return [config for config in self._configs.values() if config.linode_id == linode_id]

    def _slots_of(self, instance) -> int:
        return device_limit(self._plan_of(instance)["memory"])

    @staticmethod
    def _check_config_label(label: str | None) -> None:
        if label is None:
            raise invalid("label", "label is required")
        validation.check_length("label", label, 1, 48)

    @staticmethod
    def _check_interfaces(interfaces: list | None) -> None:
        if interfaces:
            raise invalid("interfaces", "Network interfaces of configs are not supported by the emulator")

    def _check_devices(self, instance, devices: dict, slots: tuple[str, ...]) -> dict:
        """``{slot: ("disk", disk) | ("volume", volume) | None}`` for a request's ``devices``."""
        placed = {}
        for slot, device in devices.items():
            if slot not in slots:
                raise invalid(f"devices.{slot}", f"This Linode's configs have the devices {slots[0]}-{slots[-1]}")
            placed[slot] = self._config_device(instance, slot, device)
        return placed

    def _config_device(self, instance, slot: str, device):
        """What a device slot of a request holds: a disk of the Linode, a volume it may use, or None."""
        if device is None:
            return None
        disk_id = device.get("disk_id") if isinstance(device, dict) else None
        volume_id = device.get("volume_id") if isinstance(device, dict) else None
        if disk_id is not None:
            disk = self._disks.get(disk_id)
            if disk is None or disk.linode_id != instance.id:
                raise invalid(f"devices.{slot}.disk_id", "Not found")
            return ("disk", disk)
        if volume_id is not None:
            volume = self._volumes.get(volume_id)
            if volume is None or volume.region != instance.region or volume.linode_id not in (None, instance.id):
                raise invalid(f"devices.{slot}.volume_id", "Not found or attached to another Linode")
            return ("volume", volume)
        raise invalid(f"devices.{slot}", "A device needs a disk_id or a volume_id")

    def _place_devices(self, instance, config: Config, placed: dict) -> None:
        """Put checked devices into their slots; a volume put in a config is attached to the Linode."""
        for slot, device in placed.items():
            if device is None:
                config.devices[slot] = None
                continue
            kind, target = device
            config.devices[slot] = {"disk_id": target.id if kind == "disk" else None,
                                    "volume_id": target.id if kind == "volume" else None}
            if kind == "volume" and target.linode_id is None:
                target.linode_id = instance.id
                target.updated = self._stamp()
