"""Real Salt daemons for the integration tier (pytest-salt-factories), with no automatic key acceptance."""

import contextlib
import os
from pathlib import Path

from salt_immutable.master import SaltMaster


def refuse_pending_keys(_master, _payload):
    """Auth-event callback that leaves pending keys pending: keys are pre-accepted or not at all."""


def master_factory(salt_factories, master_id, config):
    """A salt-master that never accepts a key on its own (no auto_accept, no factory acceptance)."""
    return salt_factories.salt_master_daemon(
        master_id, overrides=config, on_auth_event_callback=refuse_pending_keys
    )


def preaccept_minion_key(master, minion):
    """Generate and accept the minion's key on the master, then install it for the minion.

    This is the ``key.gen_accept`` path salt-immutable uses for builders; no auto_accept anywhere.
    """
    keys = SaltMaster(master.config.copy()).accept_new_key(minion.id)
    pki = Path(minion.config["pki_dir"])
    pki.mkdir(parents=True, exist_ok=True)
    private = pki / "minion.pem"
    private.write_text(keys["priv"])
    os.chmod(private, 0o400)
    (pki / "minion.pub").write_text(keys["pub"])


@contextlib.contextmanager
def running_minion(master, minion_id, **overrides):
    """A started salt-minion of ``master`` whose key was pre-accepted, with config ``overrides``."""
    minion = master.salt_minion_daemon(minion_id, overrides=overrides or None)
    preaccept_minion_key(master, minion)
    with minion.started():
        yield minion
