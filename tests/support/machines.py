"""Namespace machines behind the emulator, driven over HTTP with the project's own adapter."""

import contextlib
import socket
import time
from pathlib import Path

from linode_emu.server import EmulatorServer
from salt_immutable import seed
from salt_immutable.linode import LinodeProvider
from salt_immutable.master import SaltMaster

TOKEN = "machines-token"
REGION, TYPE, BASE = "us-east", "g6-nanode-1", "linode/debian12"


@contextlib.contextmanager
def machine_cloud(state_dir, hide=()):
    """The emulator with namespace machines (real OS, real minions), stopped on exit, also on failure;
    ``hide``: host paths the machines must not see (``--hide``)."""
    server = EmulatorServer(
        state_dir, time_scale=0.01, token=TOKEN, rate_limits=False, machines="namespace", hide=hide
    ).start()
    server.state_dir = state_dir
    try:
        yield server
    finally:
        server.stop()


def provider_for(server):
    return LinodeProvider(TOKEN, server.api_url, poll_interval=0.1, backoff=0.1)


def minion_user_data(master, minion_id, **extra):
    """user_data for a minion of ``master`` whose key the master generated and accepted (no auto_accept)."""
    keys = SaltMaster(master.config.copy()).accept_new_key(minion_id)
    return seed.minion_cloud_config(minion_id, "127.0.0.1", master.config["ret_port"], keys, **extra)


def disk_upper(server_state_dir, provider, instance_id):
    """The host folder holding a Linode's root disk content."""
    return Path(server_state_dir) / "disks" / str(provider.root_disk(instance_id).id) / "upper"


def wait_for(predicate, timeout=60, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(address, port):
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0
