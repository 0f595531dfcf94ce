"""Choosing the machines driver: one clear line where namespaces cannot run (where they can, chosen by default:
tests/functional/machines/test_driver_choice.py)."""

import pytest

from linode_emu import machines
from linode_emu.machines import MachineDriver, MachineError, make_driver, namespace


def test_missing_unshare_is_named_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(namespace.shutil, "which", lambda name, path=None: None)
    assert namespace.unsupported_reason() == "the 'unshare' command (util-linux) is missing"
    assert machines.default_driver_name() == "none"
    with pytest.raises(MachineError) as caught:
        make_driver("namespace", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "namespace machines cannot run here: the 'unshare' command (util-linux) is missing (use --machines none)"
    )


def test_none_driver_and_unknown_names(tmp_path):
    assert type(make_driver("none", tmp_path)) is MachineDriver
    with pytest.raises(ValueError, match="unknown machines driver 'vmware'"):
        make_driver("vmware", tmp_path)
