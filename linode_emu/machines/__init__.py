"""Machine drivers: what stands behind an emulated Linode.

The backend tells a driver when a Linode's root disk is made, when the Linode boots, shuts down or is
deleted, when a disk is captured into an image, and when images or volumes go away. The base class is
the ``none`` driver (``--machines none``): the API alone, no machines. The ``namespace`` driver
(:mod:`linode_emu.machines.namespace`) runs a real OS and a real salt-minion behind every Linode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DRIVER_NAMES = ("none", "namespace")


class MachineError(Exception):
    """A machine cannot boot or be captured; the message says why."""


@dataclass(frozen=True)
class BootRequest:
    """What a machine needs to know to boot."""

    linode_id: int
    label: str
    address: str
    disk_id: int
    user_data: str | None = None
    volumes: dict = field(default_factory=dict)  # filesystem_path -> volume id


class MachineDriver:
    """The ``none`` driver: every hook does nothing."""

    name = "none"

    def prepare_disk(self, disk_id: int, image_id: str | None) -> None:
        """A root disk is made: empty above the base image, or from private image ``image_id``."""

    def boot(self, request: BootRequest) -> None:
        """A Linode starts booting; MachineError makes that boot fail."""

    def shutdown(self, linode_id: int) -> None:
        """A Linode starts shutting down (also before a reboot or rebuild)."""

    def delete(self, linode_id: int, disk_ids: list[int]) -> None:
        """A Linode and these disks of it are deleted."""

    def delete_disk(self, disk_id: int) -> None:
        """One disk of a Linode is deleted."""

    def clone_disk(self, source_id: int, disk_id: int) -> None:
        """Disk ``disk_id`` is made as a copy of disk ``source_id``; MachineError when it cannot be."""

    def receive_image(self, image_id: str, data: bytes) -> None:
        """An uploaded image's file arrived (gzip of a raw disk); MachineError when it cannot be used."""

    def capture(self, disk_id: int, image_id: str) -> int | None:
        """An offline Linode's disk is captured as ``image_id``; returns the image's size in MB if known."""
        return None

    def delete_image(self, image_id: str) -> None:
        """A private image is gone."""

    def clone_volume(self, source_id: int, volume_id: int) -> None:
        """Volume ``volume_id`` is made as a copy of volume ``source_id``; MachineError when it cannot be."""

    def delete_volume(self, volume_id: int) -> None:
        """A volume is gone."""

    def halted(self) -> list[int]:
        """The Linodes whose machine stopped on its own since the last call (powered off from inside)."""
        return []

    def close(self) -> None:
        """The emulator stops: stop every machine."""


def make_driver(name: str, state_dir, hide=()) -> MachineDriver:
    """The driver called ``name``; MachineError when it cannot run here, ValueError for an unknown one.

    ``hide``: host paths the machines must not see, besides those they never see (see the namespace driver).
    """
    if name == "none":
        return MachineDriver()
    if name == "namespace":
        from linode_emu.machines.namespace import NamespaceDriver, unsupported_reason

        reason = unsupported_reason()
        if reason:
            raise MachineError(f"namespace machines cannot run here: {reason} (use --machines none)")
        return NamespaceDriver(state_dir, hide=hide)
    raise ValueError(f"unknown machines driver {name!r} (known: {', '.join(DRIVER_NAMES)})")


def default_driver_name() -> str:
    """``namespace`` where the kernel allows it, else ``none``."""
    from linode_emu.machines.namespace import unsupported_reason

    return "none" if unsupported_reason() else "namespace"
