"""Block Storage volumes: create, resize, clone, attach to a Linode's config, detach, delete, and their
types (prices). Mixed into the ``Backend`` facade.
"""

from __future__ import annotations

from linode_emu import catalog, validation
from linode_emu.errors import EmuApiError, FieldProblems, invalid, not_found
from linode_emu.machines import MachineError
from linode_emu.models import Event, Instance, Job, Volume, api_time
from linode_emu.transitions import check_transition
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes


class VolumeFamily:
    """Block Storage volumes."""

    def _finish_volume_create(self, event: Event, job: Job, end: float) -> None:
        self._move_volume(self._volumes[event.entity["id"]], "active", end)

    def _finish_volume_attach(self, event: Event, job: Job, end: float) -> None:
        """Attaching is visible at once (``linode_id``); only the event takes time."""

    def _finish_volume_detach(self, event: Event, job: Job, end: float) -> None:
        """Detaching is visible at once; only the event takes time."""

    @_reads
    def list_instance_volumes(self, linode_id: int) -> list[dict]:
        self._advance()
        instance = self._instance(linode_id)
        return [
            self._volume_json(volume) for volume in self._volumes.values() if volume.linode_id == instance.id
        ]

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
        encryption: str | None = None,
    ) -> dict:
        """Create a volume (``creating`` then ``active``), attached at once when ``linode_id`` is given.
        A bad request names every invalid field at once."""
        self._advance()
        problems = FieldProblems()
        problems.value(self._check_volume_label, label)
        problems.value(validation.check_range, "size", size, 10, 10240)
        instance = problems.value(self._attach_target, linode_id, region) if linode_id is not None else None
        if linode_id is None:
            problems.value(self._check_region, region)
        problems.value(self._check_encryption, "encryption", encryption)
        problems.raise_any()
        volume = self._new_volume(label, size, instance.region if instance else region, tags)
        volume.encryption = encryption or "disabled"
        if instance:
            self._plug(volume, instance, config_id)
        self._volumes[volume.id] = volume
        self._start_job("volume_create", volume.ref(), None)
        return self._volume_json(volume)

    @_writes
    def resize_volume(self, volume_id: int, size: int | None) -> dict:
        """Grow an ``active`` volume to ``size`` GB (``resizing`` until its ``volume_resize`` job ends)."""
        self._advance()
        volume = self._active_volume(volume_id)
        if size is None:
            raise invalid("size", "size is required")
        validation.check_range("size", size, volume.size + 1, 10240)
        self._move_volume(volume, "resizing")
        self._start_job("volume_resize", volume.ref(), None, size=size)
        return self._volume_json(volume)

    @_writes
    def clone_volume(self, volume_id: int, label: str | None) -> dict:
        """A new volume with the size, region and data of an ``active`` one (``volume_clone``)."""
        self._advance()
        source = self._active_volume(volume_id)
        self._check_volume_label(label)
        clone = self._new_volume(label, source.size, source.region, [])
        clone.encryption = source.encryption
        try:
            self._driver.clone_volume(source.id, clone.id)
        except MachineError as err:
            raise EmuApiError(400, f"Volume {source.id} could not be cloned: {err}") from err
        self._volumes[clone.id] = clone
        self._start_job("volume_clone", clone.ref(), source.ref())
        return self._volume_json(clone)

    @_reads
    def list_volume_types(self) -> list[dict]:
        return [dict(volume_type) for volume_type in catalog.VOLUME_TYPES]

    def _finish_volume_resize(self, event: Event, job: Job, end: float) -> None:
        volume = self._volumes[event.entity["id"]]
        volume.size = job.params["size"]
        self._move_volume(volume, "active", end)

    def _finish_volume_clone(self, event: Event, job: Job, end: float) -> None:
        self._finish_volume_create(event, job, end)

    def _new_volume(self, label: str, size: int, region: str, tags: list[str] | None) -> Volume:
        """A ``creating`` volume, not yet in the account."""
        now = self._stamp()
        return Volume(
            id=self._next_id("volume"),
            label=label,
            region=region,
            size=size,
            status="creating",
            created=now,
            updated=now,
            tags=self._use_tags(tags or []),
        )

    def _active_volume(self, volume_id: int) -> Volume:
        volume = self._volume(volume_id)
        if volume.status != "active":
            raise EmuApiError(400, f"Volume {volume_id} is not active (it is {volume.status})")
        return volume

    def _move_volume(self, volume: Volume, status: str, at: float | None = None) -> None:
        check_transition("volume", volume.status, status)
        volume.status = status
        volume.updated = api_time(at) if at is not None else self._stamp()

    @staticmethod
    def _check_volume_label(label: str | None) -> None:
        if label is None:
            raise invalid("label", "label is required")
        validation.check_volume_label(label)

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

