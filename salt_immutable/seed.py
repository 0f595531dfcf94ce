"""PURE: the cloud-init user_data that turns a new Linode into a known minion of this master.

The key pair is generated and accepted on the master beforehand (``key.gen_accept``), so the minion
authenticates at once and nothing is ever auto-accepted. JSON is valid YAML, so the document is written
with the standard library alone.
"""

import json

HEADER = "#cloud-config\n"


def minion_cloud_config(minion_id, master, master_port, keys, grains=None, mounts=(), filesystems=()):
    """``#cloud-config`` text: a salt-minion with this id, key pair and grains, pointed at ``master``.

    ``keys`` is the ``{"pub", "priv"}`` pair of ``key.gen_accept``, with the master's key fingerprint as
    ``master_finger`` when known: the minion then refuses a master whose key differs. ``mounts`` are
    cloud-init ``[device, mount point, ...]`` entries (volumes). ``filesystems`` are devices given an ext4
    filesystem at first boot when they have none (cloud-init ``fs_setup`` with ``overwrite: false``, which
    leaves a device holding a filesystem as it is: a new volume is blank, a moved one keeps its data).
    """
    conf = {"id": minion_id, "master": master, "master_port": master_port}
    if keys.get("master_finger"):
        conf["master_finger"] = keys["master_finger"]
    config = {
        "salt_minion": {
            "conf": conf,
            "grains": dict(grains or {}),
            "public_key": keys["pub"],
            "private_key": keys["priv"],
        }
    }
    if filesystems:
        config["fs_setup"] = [{"device": device, "filesystem": "ext4", "partition": "none", "overwrite": False}
                              for device in filesystems]
    if mounts:
        config["mounts"] = [list(entry) for entry in mounts]
    return HEADER + json.dumps(config, indent=1, sort_keys=True) + "\n"
