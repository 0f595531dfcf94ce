"""EFFECTS: retire a fleet — its Linodes, their minion keys, its managed NodeBalancer and its managed Cloud
Firewall go; its volumes are kept (tagged ``orphaned``) unless asked to delete them too. Under the fleet's lock.

Everything is found by the project's and the fleet's tags, so nothing another tool made is touched; an
adopted NodeBalancer (``nodebalancer: {id: ...}``) or firewall carries no fleet tag and stays. The firewall
goes last, once no server of the fleet is left behind it.
"""

from __future__ import annotations

from salt_immutable import lock as locking
from salt_immutable import names
from salt_immutable.roll import orphan_keys
from salt_immutable.stateful import ORPHANED_TAG

VOLUME_DETACH_TIMEOUT = 300


def retire_fleet(ctx, fleet, delete_volumes=False, test=False, wait=0.0):
    """Remove ``fleet`` (a name) from the cloud and the master; ``test`` only lists what would go."""
    fleet_lock = locking.FleetLock(ctx.folder, fleet, "retire", warn=lambda text: ctx.say(fleet, text))
    with fleet_lock.acquire(wait):
        tags = (names.PROJECT_TAG, names.fleet_tag(fleet))
        provider = ctx.provider
        linodes = provider.list_fleet(fleet)
        balancers = provider.list_nodebalancers(tags)
        firewalls = provider.list_firewalls(tags)
        volumes = provider.list_volumes(tags)
        key_ids = set(ctx.salt.key_ids())
        keys = sorted(({s.label for s in linodes} & key_ids) | set(orphan_keys(key_ids, fleet, linodes)))
        found = {
            "fleet": fleet,
            "linodes": sorted(s.label for s in linodes),
            "minion_keys": keys,
            "nodebalancers": sorted(b.label for b in balancers),
            "firewalls": sorted(f.label for f in firewalls),
            "volumes_deleted" if delete_volumes else "volumes_kept": sorted(v.label for v in volumes),
        }
        if test:
            return {**found, "test": True, "changed": False}
        for balancer in balancers:
            fleet_lock.check()
            ctx.say(fleet, f"retire: deleting NodeBalancer {balancer.label} ({balancer.id})")
            provider.delete_nodebalancer(balancer.id)
        for server in linodes:
            fleet_lock.check()
            ctx.say(fleet, f"retire: deleting {server.label} ({server.id})")
            provider.delete_instance(server.id)
        for key in keys:
            ctx.salt.delete_key(key)
        for firewall in firewalls:
            ctx.say(fleet, f"retire: deleting Cloud Firewall {firewall.label} ({firewall.id})")
            provider.delete_firewall(firewall.id)
        settle_volumes(ctx, fleet, volumes, delete_volumes)
        changed = linodes or keys or balancers or firewalls or (delete_volumes and volumes)
        return {**found, "changed": bool(changed)}


def settle_volumes(ctx, fleet, volumes, delete_volumes):
    """Once their Linodes are gone: delete the volumes, or keep them tagged ``orphaned``."""
    provider = ctx.provider
    for volume in volumes:
        volume = detached(ctx, volume)
        if delete_volumes:
            ctx.say(fleet, f"retire: deleting volume {volume.label} ({volume.id}) and its data")
            provider.delete_volume(volume.id)
        elif ORPHANED_TAG not in volume.tags:
            ctx.say(fleet, f"retire: keeping volume {volume.label} ({volume.id}), tagged {ORPHANED_TAG}")
            provider.set_volume_tags(volume.id, (*volume.tags, ORPHANED_TAG))


def detached(ctx, volume):
    """``volume`` once no Linode holds it (deleting a Linode detaches its volumes, in time)."""
    provider = ctx.provider
    deadline = provider.deadline(VOLUME_DETACH_TIMEOUT)
    while volume.linode_id is not None:
        deadline.check("wait for volume detach", volume.label, f"still attached to Linode {volume.linode_id}")
        ctx.sleep(deadline.pause(provider.poll_interval))
        volume = provider.get_volume(volume.id)
    return volume
