"""The harness of the reliability suite: a fleet ``app`` rolled by the real roll against the emulator
(``--machines none``) with the stand-in Salt of :mod:`tests.support.standin`, and what every scenario
checks afterwards.

- :func:`pillar` and :func:`fleet_spec`: the fleet ``app`` (3 servers, ``max_surge: 1``,
  ``max_unavailable: 0``, auto rollback), behind a managed Cloud Firewall, optionally behind a managed
  NodeBalancer with a ``tests:http`` check.
- :class:`World`: the provider, the stand-in (keys in a file) and the roll's context, with the roll's
  pauses at the emulator's time scale.
- :class:`ServiceSampler`: counts the servers in service at every observation during a roll.
- :func:`assert_clean`: no Linode, volume, image, key, node or firewall device beyond the fleet's servers.
- :class:`AppListeners` and :class:`DataPlane`: an app answering on the Linodes' loopback addresses and
  the emulator's NodeBalancer health checks, which ``--machines none`` does not run by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import salt.config
import yaml

from linode_emu.addresses import loopback_address
from salt_immutable import fleetops, history, names, spec
from salt_immutable.bake import PROVEN_TAG
from salt_immutable.errors import ProviderError, RollError
from salt_immutable.linode import LinodeProvider
from salt_immutable.roll import SVC_DRAIN, SVC_IN
from tests.support import standin
from tests.support.emulator import EMULATOR_TOKEN
from tests.support.saltconfig import REPO, readme_master_config, write_pillar

FLEET, COUNT, MAX_UNAVAILABLE = "app", 3, 0
TIME_SCALE = 0.01  # the emulator fixture's
POLL = 0.02
PROGRESS_DEADLINE = 4
HEALTH_PATH = "/healthz"


def pillar(version, *, nodebalancer=False, http_port=None, progress_deadline=PROGRESS_DEADLINE):
    """The ``immutable`` pillar of fleet ``app`` at ``version``; a NodeBalancer needs ``http_port``."""
    fleet = {
        "version": version, "count": COUNT, "bake": {"states": ["app"]},
        "rollout": {"max_surge": 1, "max_unavailable": MAX_UNAVAILABLE, "progress_deadline": progress_deadline},
        "linode": {"firewall": {"label": "app-fw", "rules": {}}},
    }
    if http_port is not None:
        fleet["tests"] = {"http": {"port": http_port, "path": HEALTH_PATH}}
    if nodebalancer:
        fleet["nodebalancer"] = {"label": "app-lb", "port": 80, "drain_seconds": 0}
    return {"immutable": {"linode": {"region": "us-east"}, "fleets": {FLEET: fleet}}}


def fleet_spec(version, **options):
    """The FleetSpec of :func:`pillar`."""
    return spec.parse(pillar(version, **options)).fleet(FLEET)


def provider_for(api_url, token=EMULATOR_TOKEN, **overrides):
    """The real adapter with quick polls and retries (enough of them to outlast an emulator restart)."""
    settings = {"poll_interval": POLL, "backoff": 0.02, "max_backoff": 0.2, "max_attempts": 8,
                "rng": random.Random(0), **overrides}
    return LinodeProvider(token, api_url, **settings)


def master_opts(folder, immutable_pillar, **settings):
    """Master opts from a config file written the README's way into ``folder``, with the master settings
    ``settings`` (``immutable:``) and a pillar tree whose ``immutable`` key is ``immutable_pillar``."""
    pillar = write_pillar(folder / "pillar", immutable_pillar)
    config = readme_master_config([REPO / "salt"], [pillar], **settings)
    config["root_dir"] = str(folder / "root")
    path = folder / "master"
    path.write_text(yaml.safe_dump(config))
    return salt.config.master_config(str(path))


def scaled_sleep(seconds):
    """The roll's own pauses (settling, drains) at the emulator's time scale."""
    time.sleep(seconds * TIME_SCALE)


class World:
    """A roll's surroundings: ``provider``, the stand-in ``salt`` (keys in ``folder/keys.json``), the
    roll's ``ctx`` (locks and history in ``folder/state``) and the progress lines it said."""

    def __init__(self, api_url, folder, provider=None, **salt_options):
        self.folder = folder
        self.provider = provider or provider_for(api_url)
        self.salt = standin.StandInSalt(self.provider, key_file=folder / "keys.json", **salt_options)
        self.lines = []
        ctx = standin.context(self.provider, self.salt, folder / "state", progress=self.lines.append)
        self.ctx = dataclasses.replace(ctx, sleep=scaled_sleep)

    def roll(self, version, **options):
        """Roll fleet ``app`` to ``version``; the report, whether the roll succeeded or failed."""
        try:
            return fleetops.roll_fleet(self.ctx, fleet_spec(version, **options), version)
        except RollError as err:
            return err.report

    def minion_keys(self):
        """The minion keys as the master (the key file) holds them now."""
        return standin.StandInSalt(self.provider, key_file=self.folder / "keys.json").key_ids()

    def records(self):
        return history.records(self.ctx.folder, FLEET)


def in_service(servers):
    """How many of ``servers`` serve: running and tagged ``svc:in``, not ``svc:drain``."""
    return sum(1 for s in servers if s.status == "running" and SVC_IN in s.tags and SVC_DRAIN not in s.tags)


class Ticker:
    """A thread calling :meth:`tick` every :data:`POLL` seconds between ``__enter__`` and ``__exit__``."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(POLL):
            self.tick()

    def tick(self):
        raise NotImplementedError


class ServiceSampler(Ticker):
    """Lists the fleet every :data:`POLL` seconds; ``counts`` are the servers in service at each observation
    (a listing that fails, while the emulator restarts, is no observation)."""

    def __init__(self, api_url):
        super().__init__()
        self.provider = provider_for(api_url, max_attempts=1)
        self.counts = []

    def tick(self):
        with contextlib.suppress(ProviderError):
            self.counts.append(in_service(self.provider.list_fleet(FLEET)))


def assert_never_below_minimum(sampler):
    """At every observation at least ``count - max_unavailable`` servers were in service."""
    assert len(sampler.counts) >= 10, f"too few observations to judge: {sampler.counts}"
    assert min(sampler.counts) >= COUNT - MAX_UNAVAILABLE, f"in service per observation: {sampler.counts}"


def assert_clean(world, version):
    """Fleet ``app`` runs ``version`` on exactly :data:`COUNT` servers in service, and the account holds
    nothing else: no other Linode, no volume, no unproven image, no key, node or device without a server."""
    provider = world.provider
    linodes = provider.list_instances()
    servers = provider.list_fleet(FLEET)
    assert sorted(s.label for s in linodes) == sorted(s.label for s in servers), "only the fleet's servers"
    assert len(servers) == COUNT and in_service(servers) == COUNT, [(s.label, s.status, s.tags) for s in servers]
    assert {f"version:{version}"} == {t for s in servers for t in s.tags if t.startswith("version:")}
    assert world.minion_keys() == sorted(s.label for s in servers), "a key per server, no other"
    assert provider.list_volumes() == []
    images = provider.list_images((names.PROJECT_TAG, names.fleet_tag(FLEET)))
    assert all(PROVEN_TAG in image.tags for image in images), "no image left unproven"
    firewall = provider.find_firewall("app-fw")
    assert provider.firewall_linode_ids(firewall.id) == {s.id for s in servers}
    assert node_hosts(provider) <= {s.private_ip for s in servers}, "no node without its server"


def node_hosts(provider):
    """The addresses of the nodes of NodeBalancer ``app-lb`` (none without it)."""
    balancer = provider.find_nodebalancer("app-lb")
    if balancer is None:
        return set()
    config = provider.list_nodebalancer_configs(balancer.id)[0]
    return {node.address.rpartition(":")[0] for node in provider.list_nodes(balancer.id, config.id)}


class AppListeners:
    """An HTTP app answering ``200`` on ``port`` at the first ``size`` loopback addresses the emulator
    hands to Linodes, so that the ``tests:http`` check and NodeBalancer health checks can pass."""

    def __init__(self, size=40):
        handler = _Healthy
        first = ThreadingHTTPServer((loopback_address(0), 0), handler)
        self.port = first.server_address[1]
        self.servers = [first, *(ThreadingHTTPServer((loopback_address(n), self.port), handler)
                                 for n in range(1, size))]
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                        for s in self.servers]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        for server in self.servers:
            server.shutdown()
            server.server_close()


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        """Quiet: pytest would show every health check."""


class DataPlane(Ticker):
    """Run ``emulator``'s NodeBalancer data plane (listeners and health checks), as its ticker does when
    machines are on: ``balancers.reconcile()`` every :data:`POLL` seconds."""

    def __init__(self, emulator):
        super().__init__()
        self.emulator = emulator

    def tick(self):
        self.emulator.balancers.reconcile()
