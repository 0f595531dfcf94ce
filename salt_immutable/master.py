"""What salt-immutable asks of the Salt master it runs in: pillar, minion keys, minion calls, events.

Takes the master ``opts`` explicitly; never reads Salt's dunders.
"""

import os
import subprocess
import time

import salt.client
import salt.config
import salt.exceptions
import salt.pillar
import salt.utils.crypt
import salt.utils.event
import salt.wheel

from salt_immutable.errors import ConfigError, SaltCallError


def compile_fleet_pillar(opts, pillar_id):
    """Compile the pillar the master holds for ``pillar_id`` (the master's own id by default).

    Orchestration compiles pillar for the master's id too, so one top-file target serves both.
    """
    pillar = salt.pillar.get_pillar(
        opts,
        opts.get("grains", {}),
        pillar_id,
        saltenv=opts.get("saltenv"),
        pillarenv=opts.get("pillarenv"),
    ).compile_pillar()
    render_errors = pillar.get("_errors")
    if render_errors:
        raise ConfigError(f"compile pillar for {pillar_id} failed: {'; '.join(map(str, render_errors))}")
    return pillar


class SaltMaster:
    """Minion keys, calls to minions and master events, for the master in ``opts``."""

    def __init__(self, opts):
        self.opts = opts
        self._client_opts = None

    def client_opts(self):
        """The opts LocalClient authenticates with. An orchestration puts the name of whoever started it in
        ``opts['user']`` (``Reactor`` when a reactor did, an eauth user through salt-api); LocalClient would
        then read that name's key file and fail to authenticate. The key is the master's user's."""
        if self._client_opts is None:
            conf_file = self.opts.get("conf_file")
            configured = salt.config.master_config(conf_file).get("user") if conf_file else None
            self._client_opts = {**self.opts, "user": configured or self.opts.get("user")}
        return self._client_opts

    def _wheel(self, fun, minion_id):
        """Call a key function directly. Through ``WheelClient.cmd`` the return (a private key, for
        key.gen_accept) would be fired on the event bus, stored in the job cache and printed by salt-run."""
        wheel = salt.wheel.WheelClient(self.opts.copy())
        try:
            return wheel.functions[fun](minion_id)
        finally:
            wheel.destroy()

    def accept_new_key(self, minion_id):
        """A fresh key pair for ``minion_id``, accepted here (``key.gen_accept``), and this master's key
        fingerprint for the minion to pin: {"pub", "priv", "master_finger"}."""
        self._wheel("key.delete", minion_id)
        keys = self._wheel("key.gen_accept", minion_id)
        if not keys or "priv" not in keys:
            raise SaltCallError(f"key.gen_accept {minion_id} returned no key pair")
        return {**keys, "master_finger": self.master_finger()}

    def master_finger(self):
        """The fingerprint of this master's public key, as a minion's ``master_finger`` setting wants it."""
        path = os.path.join(self.opts["pki_dir"], "master.pub")
        finger = salt.utils.crypt.pem_finger(path, sum_type=self.opts.get("hash_type", "sha256"))
        if not finger:
            raise ConfigError(f"read the master's public key {path}: it does not exist; is the salt-master running?")
        return finger

    def key_ids(self):
        """Every minion id with a key on this master, whatever its status (accepted, pending, ...)."""
        listed = self._wheel("key.list", "all") or {}
        return sorted({minion for ids in listed.values() for minion in ids or ()})

    def delete_key(self, minion_id):
        """Forget the key of ``minion_id`` (accepted, pending or rejected)."""
        self._wheel("key.delete", minion_id)

    def call(self, minion_id, fun, arg=(), kwarg=None, timeout=300):
        """Run ``fun`` on one minion; return its result. SaltCallError without an answer or on failure."""
        try:
            with salt.client.LocalClient(mopts=self.client_opts()) as local:
                answers = local.cmd(
                    minion_id, fun, arg=list(arg), kwarg=kwarg or {}, timeout=timeout, full_return=True,
                    gather_job_timeout=min(timeout, self.opts.get("gather_job_timeout", 10)),
                )
        except salt.exceptions.SaltClientError as err:  # the master did not take the job in time (busy)
            raise SaltCallError(f"{fun} on {minion_id}: the master did not publish it: {err}") from err
        answer = (answers or {}).get(minion_id)
        if not isinstance(answer, dict) or "ret" not in answer:
            raise SaltCallError(f"{fun} on {minion_id}: no answer within {timeout}s")
        if answer.get("retcode", 0) != 0 and not isinstance(answer["ret"], dict):
            raise SaltCallError(f"{fun} on {minion_id} failed: {answer['ret']}")
        return answer["ret"], answer.get("retcode", 0)

    def wait_for_minion(self, minion_id, deadline, interval=0.5):
        """Wait until ``minion_id`` answers ``test.ping``; SaltCallError when ``deadline`` passes first.

        A ping to a minion that is not connected yet lasts its whole timeout: keep it short."""
        while not deadline.expired():
            try:
                if self.call(minion_id, "test.ping", timeout=2)[0] is True:
                    return
            except SaltCallError:
                pass
            time.sleep(interval)
        raise SaltCallError(f"minion {minion_id} did not answer within {deadline.seconds:.0f}s")

    def fire(self, tag, data):
        """Fire ``data`` on the master event bus under ``tag``."""
        with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=False) as bus:
            bus.fire_event(data, tag)

    def await_event(self, tag, matches, timeout, before=None):
        """Listen on the master event bus, call ``before`` (it may fire the request being answered), then
        wait up to ``timeout`` seconds for an event under ``tag`` whose data ``matches``; its data, or None."""
        with salt.utils.event.get_master_event(self.opts, self.opts["sock_dir"], listen=True) as bus:
            bus.subscribe(tag)
            if before is not None:
                before()
            end = time.monotonic() + timeout
            while (left := end - time.monotonic()) > 0:
                event = bus.get_event(wait=min(left, 5), tag=tag, full=True)
                if event and isinstance(event.get("data"), dict) and matches(event["data"]):
                    return event["data"]
        return None

    def state_tree_commit(self):
        """The git commit of the first state tree folder, when it is a git checkout."""
        roots = (self.opts.get("file_roots") or {}).get("base") or []
        if not roots or not os.path.isdir(roots[0]):
            return None
        found = subprocess.run(
            ["git", "-C", roots[0], "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
        return found.stdout.strip() or None if found.returncode == 0 else None

    def address(self, configured):
        """The address new minions reach this master on."""
        if configured:
            return configured
        interface = self.opts.get("interface", "0.0.0.0")
        if interface in ("0.0.0.0", "::"):
            raise ConfigError(
                "master config immutable:master_address is required: the master listens on every "
                f"interface ({interface}), so new servers cannot be told which address to use"
            )
        return interface


def resolve_token(opts, configured):
    """The Linode token: the master config's value (an ``sdb://`` URI is looked up), else LINODE_TOKEN."""
    token = configured or os.environ.get("LINODE_TOKEN", "")
    if token.startswith("sdb://"):
        import salt.utils.sdb

        token = salt.utils.sdb.sdb_get(token, opts) or ""
    if not token:
        raise ConfigError(
            "no Linode token: set immutable:linode_token in the master config (a value or an sdb:// URI) "
            "or LINODE_TOKEN in the master's environment"
        )
    return token
