"""Power of Linodes: boot, shut down, reboot, the Shutdown Watchdog (Lassie), injected boot failures, and
the machines behind them (``linode_emu.machines`` through the ``MachineDriver``). Mixed into ``Backend``.
"""

from __future__ import annotations

from linode_emu.errors import invalid
from linode_emu.machines import BootRequest, MachineError
from linode_emu.models import (
    Config,
    Event,
    Instance,
    Job,
)
from linode_emu.verbs import writes as _writes


class PowerFamily:
    """Booting and stopping Linodes and their machines."""

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
        """What the machine of ``instance`` boots; MachineError when it has no disk to boot from."""
        attached = [volume for volume in self._volumes.values() if volume.linode_id == instance.id]
        root = self._root_disk(instance.id)
        if root is None:
            raise MachineError("the Linode has no ext3 or ext4 disk to boot from")
        return BootRequest(
            linode_id=instance.id,
            label=instance.label,
            address=instance.ipv4[0],
            disk_id=root.id,
            user_data=instance.user_data,
            volumes={volume.filesystem_path(): volume.id for volume in attached},
        )

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

