"""Linodes: create, read, update, delete and rebuild, with the checks of a deploy, one resource family in
its own module (mixed into the ``Backend`` facade, like ``linode_emu.firewalls``).

Uses of the host: ``_advance()``, ``_observe()``, ``_start_job()``, ``_notify()``, ``_next_id()``, ``_stamp()``,
``_use_tags()``, ``_apply_changes()``, the collections, and the other families' helpers (``_detach``,
``_delete_nodes_at``, ``_forget_devices``, ``_firewall_to_assign``, ``_assign_at_create``, ``_start_boot``...).
"""

from __future__ import annotations

import hashlib

from linode_emu import catalog, validation
from linode_emu.addresses import loopback_address, private_address
from linode_emu.errors import FieldProblems, invalid, linode_busy, not_found
from linode_emu.models import Config, Event, Instance, Job, device_limit
from linode_emu.transitions import check_transition
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes

SWAP_MB = 512


class InstanceFamily:
    """Linodes and their deploys (``/linode/instances``)."""

    def _finish_linode_create(self, event: Event, job: Job, end: float) -> None:
        instance = self._instances[event.entity["id"]]
        self._mark_disks_ready(instance)
        self._boot_or_stop(instance, job, end)

    def _finish_linode_rebuild(self, event: Event, job: Job, end: float) -> None:
        self._finish_linode_create(event, job, end)

    def _finish_linode_delete(self, event: Event, job: Job, end: float) -> None:
        linode_id = event.entity["id"]
        del self._instances[linode_id]
        self._disks = {key: disk for key, disk in self._disks.items() if disk.linode_id != linode_id}
        self._configs = {key: cfg for key, cfg in self._configs.items() if cfg.linode_id != linode_id}


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
        booted: bool | None = None,
        firewall_id: int | None = None,
        private_ip: bool = False,
        disk_encryption: str | None = None,
        **deploy,
    ) -> dict:
        """Create a Linode: ``provisioning``, then (with an image and ``booted``) boot it. With
        ``firewall_id`` it is a device of that Firewall from the start. ``deploy`` are the keyword
        arguments of :meth:`_check_deploy` (credentials, ``user_data``) and ``boot_size``, ``kernel``.
        A bad request names every invalid field at once."""
        self._advance()
        boot_size, kernel = deploy.pop("boot_size", None), deploy.pop("kernel", None)
        problems = FieldProblems()
        linode_type = problems.value(self._check_type, type)
        problems.value(self._check_region, region)
        source = problems.value(self._check_deploy, image, **deploy)
        problems.value(self._check_encryption, "disk_encryption", disk_encryption)
        if label is not None:
            problems.value(self._check_unique_label, label, None)
        problems.raise_any()
        firewall = self._firewall_to_assign(firewall_id, "linode")
        instance = self._new_instance(region, type, image, label, tags, group, deploy.get("user_data"))
        instance.disk_encryption = disk_encryption or "enabled"
        if private_ip:
            instance.ipv4.append(private_address(self._next_id("private_address")))
        self._instances[instance.id] = instance
        if source:
            self._deploy_disks(instance, source, linode_type, boot_size=boot_size, kernel=kernel)
        secondary = self._image_ref(source) if source else None
        self._start_job("linode_create", instance.ref(), secondary, boot=bool(source) and booted is not False)
        self._assign_at_create(firewall, instance)
        return instance.to_json()

    def _new_instance(self, region, type_id, image, label, tags, group, user_data) -> Instance:
        """A new ``provisioning`` Linode with its public (loopback) address; not yet in the account."""
        tags = self._use_tags(tags or [])
        instance_id = self._next_id("linode")
        now = self._stamp()
        return Instance(
            id=instance_id,
            label=label if label is not None else f"linode{instance_id}",
            region=region,
            type=type_id,
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
        disk_encryption: str | None = None,
    ) -> dict:
        """Re-image a Linode in place (same id and IPs, new disks and config), then boot it."""
        self._advance()
        instance = self._idle_instance(linode_id)
        problems = FieldProblems()
        if not image:
            problems.value(self._refuse, "image", "image is required")
        source = problems.value(
            self._check_deploy,
            image,
            root_pass=root_pass,
            authorized_keys=authorized_keys,
            authorized_users=authorized_users,
            user_data=user_data,
        )
        problems.value(self._check_encryption, "disk_encryption", disk_encryption)
        problems.raise_any()
        self._driver.delete(instance.id, [disk.id for disk in self._disks_of(instance.id)])
        self._move(instance, "rebuilding")
        self._disks = {key: disk for key, disk in self._disks.items() if disk.linode_id != linode_id}
        self._configs = {key: cfg for key, cfg in self._configs.items() if cfg.linode_id != linode_id}
        instance.image = image
        instance.user_data = user_data
        instance.disk_encryption = disk_encryption or instance.disk_encryption
        instance.booted_config_id = None
        instance.updated = self._stamp()
        self._deploy_disks(instance, source, self._plan_of(instance))
        self._start_job("linode_rebuild", instance.ref(), self._image_ref(source), boot=booted is not False)
        return instance.to_json()

    @_writes
    def resize_instance(
        self, linode_id: int, *, type: str | None, allow_auto_disk_resize: bool = True, migration_type: str = "cold"
    ) -> None:
        """Move a Linode to another plan: a queued ``linode_resize_create`` job, then the ``linode_resize``
        job itself (a cold one shows ``resizing`` and boots the Linode again if it ran; a warm one keeps
        it running). The disks must fit the new plan; the root disk grows into new space when allowed."""
        self._advance()
        instance = self._idle_instance(linode_id)
        problems = FieldProblems()
        new_type = problems.value(self._check_type, type)
        problems.value(validation.check_choice, "migration_type", migration_type, ("warm", "cold"))
        problems.raise_any()
        used = sum(disk.size for disk in self._disks_of(linode_id))
        if used > new_type["disk"]:
            raise invalid("type", "The Linode has more disk space allocated than the new plan offers")
        self._start_job(
            "linode_resize_create",
            instance.ref(),
            None,
            type=type,
            grow_disk=allow_auto_disk_resize,
            warm=migration_type == "warm",
        )

    def _finish_linode_resize_create(self, event: Event, job: Job, end: float) -> None:
        """The queued resize starts: a cold one stops the Linode (``resizing``)."""
        instance = self._instances[event.entity["id"]]
        was_running = instance.status == "running"
        if not job.params["warm"]:
            self._driver.shutdown(instance.id)
            self._move(instance, "resizing")
        self._start_job("linode_resize", instance.ref(), None, start=end, was_running=was_running, **job.params)

    def _finish_linode_resize(self, event: Event, job: Job, end: float) -> None:
        instance = self._instances[event.entity["id"]]
        old_disk = self._plan_of(instance)["disk"]
        new_type = catalog.find(catalog.TYPES, job.params["type"])
        instance.type = new_type["id"]
        for config in self._configs_of(instance.id):
            config.slots = device_limit(new_type["memory"])
        root = self._root_disk(instance.id)
        if job.params["grow_disk"] and root is not None and new_type["disk"] > old_disk:
            root.size += new_type["disk"] - old_disk
        if instance.status == "resizing":
            self._after_cold_resize(instance, job.params["was_running"], end)

    def _after_cold_resize(self, instance: Instance, was_running: bool, end: float) -> None:
        if was_running:
            self._start_boot(instance, self._choose_config(instance, None), end)
        else:
            self._move(instance, "offline")

    @_writes
    def reset_root_password(self, linode_id: int, root_pass: str | None) -> None:
        """Set a new root password on an offline Linode's root disk (event ``password_reset``)."""
        self._advance()
        instance = self._idle_instance(linode_id)
        if root_pass is None:
            raise invalid("root_pass", "root_pass is required")
        validation.check_root_pass(root_pass)
        if instance.status != "offline":
            raise invalid("root_pass", "The Linode must be shut down before its root password is reset")
        self._notify("password_reset", instance.ref())

    @_reads
    def get_instance_transfer(self, linode_id: int) -> dict:
        """This month's network transfer of a Linode: nothing used of its plan's quota (GB)."""
        self._advance()
        instance = self._instance(linode_id)
        return {"used": 0, "quota": self._plan_of(instance)["transfer"], "billable": 0}

    def _instance(self, linode_id: int) -> Instance:
        instance = self._instances.get(linode_id)
        if instance is None:
            raise not_found()
        return instance

    @staticmethod
    def _plan_of(instance: Instance) -> dict:
        """The Linode type (plan) of ``instance``."""
        return catalog.find(catalog.TYPES, instance.type)

    def _idle_instance(self, linode_id: int) -> Instance:
        """The Linode, or ``Linode busy.`` when a job (create, boot, capture, ...) runs on it."""
        instance = self._instance(linode_id)
        if self._jobs_of("linode", linode_id):
            raise linode_busy()
        return instance

    def _move(self, instance: Instance, status: str) -> None:
        check_transition("linode", instance.status, status)
        instance.status = status
        instance.updated = self._stamp()

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
            raise invalid("type", "A valid plan type by that ID was not found")
        return linode_type

    @staticmethod
    def _check_encryption(field: str, value: str | None) -> None:
        """``disk_encryption`` / ``encryption``: enabled or disabled (None: the default)."""
        if value is not None:
            validation.check_choice(field, value, ("enabled", "disabled"))

    @staticmethod
    def _refuse(field: str, reason: str) -> None:
        """A field check that always fails (for :class:`FieldProblems`)."""
        raise invalid(field, reason)

    def _check_deploy(
        self, image, root_pass=None, authorized_keys=None, authorized_users=None, user_data=None
    ) -> dict | None:
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

    def _deploy_disks(
        self, instance: Instance, source: dict, linode_type: dict, boot_size: int | None = None, kernel=None
    ) -> None:
        """The disks and config of a Linode deployed from ``source``: ext4 root (all the space, or
        ``boot_size`` MB) + 512 MB swap, and a config booting ``kernel`` (default: GRUB 2)."""
        now = self._stamp()
        size = min(boot_size or linode_type["disk"], linode_type["disk"] - SWAP_MB)
        root = self._new_disk(instance.id, f"{source['label']} Disk", size, "ext4", instance.disk_encryption)
        swap = self._new_disk(instance.id, f"{SWAP_MB} MB Swap Image", SWAP_MB, "swap", instance.disk_encryption)
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
            slots=device_limit(linode_type["memory"]),
            kernel=kernel or "linode/grub2",
        )
        for disk in (root, swap):
            self._disks[disk.id] = disk
        self._configs[config.id] = config
        self._driver.prepare_disk(root.id, source["id"] if source["id"].startswith("private/") else None)

    def _mark_disks_ready(self, instance: Instance) -> None:
        for disk in self._disks.values():
            if disk.linode_id == instance.id:
                disk.status = "ready"

