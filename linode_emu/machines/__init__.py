"""Machine drivers: what stands behind an emulated Linode.

The backend calls a driver's hooks when a Linode starts booting, starts shutting down, is deleted,
and when one of its disks is captured into an image. The base class is the ``none`` driver
(``--machines none``): the API alone, no machines. A later driver (``namespace``) overrides the hooks.
"""

from __future__ import annotations

DRIVER_NAMES = ("none",)


class MachineDriver:
    """The ``none`` driver: every hook does nothing."""

    def boot(self, linode) -> None:
        """``linode`` (a models.Instance) starts booting."""

    def shutdown(self, linode) -> None:
        """``linode`` starts shutting down (also before a reboot or rebuild)."""

    def delete(self, linode) -> None:
        """``linode`` is being deleted."""

    def capture(self, linode, disk, image) -> None:
        """``disk`` of the offline ``linode`` is being captured as ``image`` (a models.Image)."""


def make_driver(name: str) -> MachineDriver:
    """The driver called ``name``; ValueError for an unknown one."""
    if name not in DRIVER_NAMES:
        raise ValueError(f"unknown machines driver {name!r} (known: {', '.join(DRIVER_NAMES)})")
    return MachineDriver()
