"""Choosing the machines driver: namespace machines run here (the probe starts ``unshare``) and are the default."""

from linode_emu import machines
from linode_emu.machines import namespace


def test_namespace_machines_are_available_here_and_chosen_by_default():
    assert namespace.unsupported_reason() is None
    assert machines.default_driver_name() == "namespace"
