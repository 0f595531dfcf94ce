"""The cloud adapter: the only module of salt-immutable that imports ``linode_api4``.

Everything it returns is a frozen value from :mod:`salt_immutable.model`; everything it raises is a
:class:`~salt_immutable.errors.ProviderError` naming the operation, the resource and the API's reason.

Every API call goes through :meth:`LinodeProvider._call`, the one place that retries: linode_api4's
own retry is switched off because it repeats a failed POST blindly, which can create a second Linode.
Here reads and idempotent writes are repeated as they are (408, 429, 5xx, ``Linode busy.``, timeouts
and dropped connections, honouring ``Retry-After``), while a create or an action first looks whether
its earlier attempt took effect after all.
"""

import base64
import functools
import ipaddress
import logging
import operator
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import linode_api4 as api
import requests
from requests.adapters import HTTPAdapter

from salt_immutable import __version__, errors, names
from salt_immutable.deadline import Deadline
from salt_immutable.model import (
    Disk,
    FirewallRef,
    ImageRef,
    NodeBalancerConfigRef,
    NodeBalancerNode,
    NodeBalancerRef,
    ObservedServer,
    VolumeRef,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.linode.com/v4"
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BUSY_REASON = "Linode busy."
# Seconds a deleted Linode may stay listed before its delete counts as failed.
DELETE_TIMEOUT = 300
# Linode's largest page: a fleet of up to 500 Linodes is listed with one request.
MAX_PAGE_SIZE = 500
ROOT_FILESYSTEMS = ("ext4", "ext3")
# RFC 1918 (Linode's private addresses are 192.168.128.0/17) and loopback, which the local emulator
# gives its machines as their private address.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "127.0.0.0/8")
)
# Statuses an instance rests in; any other one means an action is under way.
SETTLED_STATUSES = frozenset({"running", "offline", "stopped"})

_BY_STATUS = {400: errors.InvalidRequest, 404: errors.NotFound, 409: errors.Conflict}


def backoff_delay(attempt, base, cap, rng, retry_after=None):
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential with "equal jitter": the ceiling ``base * 2**(attempt-1)``, bounded by ``cap``, is
    waited at least half, plus a random share of the other half, so that clients rate-limited
    together do not come back together. A ``Retry-After`` from the API is a floor: never retry
    earlier than the API asked.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return delay if retry_after is None else max(delay, retry_after)


@dataclass(frozen=True)
class Failure:
    """What a failed API call means: the error to raise, and whether trying again may help."""

    kind: type
    reasons: tuple
    status: int | None = None
    retryable: bool = False
    retry_after: float | None = None

    def error(self, operation, resource, extra=()):
        """The project exception for this failure."""
        return self.kind(operation, resource, self.reasons + tuple(extra), self.status)


class ListChanged(Exception):
    """A paginated listing changed between its pages (linode_api4 refuses to stitch it)."""


def classify(exc):
    """Map an exception raised while calling the API to a :class:`Failure`."""
    if isinstance(exc, api.ApiError):
        return _classify_api_error(exc)
    if isinstance(exc, api.UnexpectedResponseError):
        return Failure(errors.ProviderProtocolError, (str(exc),), exc.status)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return Failure(errors.ProviderProtocolError, ("the API answered with a body that is not JSON",))
    if isinstance(exc, requests.Timeout):
        return Failure(errors.Transient, ("the API did not answer in time",), retryable=True)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return Failure(errors.Transient, ("cannot reach the API",), retryable=True)
    if isinstance(exc, ListChanged):
        return Failure(errors.Transient, ("the listing changed while it was read",), retryable=True)
    return Failure(errors.ProviderError, (f"the request failed: {type(exc).__name__}",))


def _classify_api_error(exc):
    reasons = _reasons(exc)
    status = exc.status
    if status in RETRIED_STATUSES:
        return Failure(errors.Transient, reasons, status, True, _retry_after(exc.response))
    if status == 400 and BUSY_REASON in exc.errors:
        return Failure(errors.Conflict, reasons, status, True)
    kind = errors.Transient if status >= 500 else _BY_STATUS.get(status, errors.ProviderError)
    return Failure(kind, reasons, status)


def _reasons(exc):
    """The API's reasons, each prefixed by the request field at fault, if any."""
    body = exc.json if isinstance(exc.json, dict) else {}
    found = []
    for item in body.get("errors") or ():
        if isinstance(item, dict) and item.get("reason"):
            field = item.get("field")
            found.append(f"{field}: {item['reason']}" if field else str(item["reason"]))
    if not found and exc.response is not None and exc.response.reason:
        found.append(exc.response.reason)
    return tuple(found)


def _retry_after(response):
    """``Retry-After`` in seconds, or None when the response has none that is a number."""
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _every(items):
    """Read every page of a listing now, so that nothing lazy leaves the adapter."""
    try:
        return items[:]
    except (api.ApiError, api.UnexpectedResponseError):
        raise
    except RuntimeError as exc:  # linode_api4's "List ... has changed since creation!"
        raise ListChanged() from exc


def _all_of(filters):
    """One filter from several: linode_api4 raises TypeError when given three or more."""
    return functools.reduce(operator.and_, filters) if filters else None


class _TimeoutAdapter(HTTPAdapter):
    """A transport that never waits for ever: every request gets ``timeout`` unless it sets one."""

    def __init__(self, timeout):
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request, timeout=None, **kwargs):
        """Send ``request`` with the adapter's timeout when the caller gave none."""
        return super().send(request, timeout=self.timeout if timeout is None else timeout, **kwargs)


class LinodeProvider:
    """Linode API v4, as salt-immutable uses it.

    ``timeout`` bounds every HTTP request (seconds); ``max_attempts`` bounds the tries of one call
    (1 = no retry); ``backoff`` and ``max_backoff`` shape the waits between them; ``poll_interval``
    is the pause between two reads of a wait. ``sleep``, ``clock`` and ``rng`` are injectable for
    tests. ``budget`` (a :class:`~salt_immutable.budget.RateBudget`) is spent once per attempt, so that
    providers sharing it share the account's rate limit. The token is sent to the API and nowhere else.
    """

    def __init__(
        self,
        token,
        api_url=DEFAULT_API_URL,
        *,
        timeout=30.0,
        max_attempts=5,
        backoff=1.0,
        max_backoff=30.0,
        poll_interval=5.0,
        page_size=MAX_PAGE_SIZE,
        budget=None,
        sleep=time.sleep,
        clock=time.monotonic,
        rng=None,
    ):
        if not token:
            raise errors.ConfigError("no Linode API token was given")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be 1 or more, not {max_attempts}")
        self.api_url = api_url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.budget = budget
        self._token = token
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._client = api.LinodeClient(
            token,
            base_url=api_url,
            user_agent=f"salt-immutable/{__version__}",
            page_size=page_size,
            retry=False,
        )
        adapter = _TimeoutAdapter(timeout)
        self._client.session.mount("https://", adapter)
        self._client.session.mount("http://", adapter)

    def __repr__(self):
        return f"LinodeProvider({self.api_url!r})"

    def deadline(self, seconds):
        """A :class:`Deadline` of ``seconds`` on this provider's clock, to share across waits."""
        return Deadline(seconds, self._clock)

    # -- instances ---------------------------------------------------------------------------------

    def list_instances(self, tags=()):
        """Every Linode carrying all of ``tags`` (every Linode of the account when none are given)."""
        where = _all_of([api.Instance.tags == tag for tag in tags])
        return self._list(
            "list instances", ",".join(tags) or None, self._client.linode.instances, where, _server
        )

    def list_fleet(self, fleet):
        """Every Linode of ``fleet``: those tagged both ``immutable`` and ``fleet:<fleet>``."""
        return self.list_instances((names.PROJECT_TAG, names.fleet_tag(fleet)))

    def find_instance(self, label):
        """The Linode labelled ``label``, or None."""
        found = self._list(
            "find instance", label, self._client.linode.instances, api.Instance.label == label, _server
        )
        return found[0] if found else None

    def get_instance(self, instance_id):
        """A fresh read of Linode ``instance_id`` (never a cached status)."""
        return self._call(
            "get instance", instance_id, lambda: _server(self._client.load(api.Instance, instance_id))
        )

    def create_instance(
        self,
        label,
        region,
        type,
        image,
        *,
        tags=(),
        user_data=None,
        authorized_keys=(),
        private_ip=False,
        booted=True,
        firewall_id=None,
    ):
        """Create a Linode from ``image`` and return it (it is still ``provisioning``).

        Idempotent: when a Linode labelled ``label`` already exists and carries ``tags``, it is
        returned instead (a repeated create, or a retry whose first attempt was performed although
        its answer was lost). ``user_data`` is the cloud-config text; it is sent base64-encoded.
        Without ``authorized_keys`` a random root password nobody keeps is set, as the API requires.
        ``firewall_id`` puts it behind that Cloud Firewall from its creation.
        """
        existing = self._adopt_instance(label, tags)
        if existing is not None:
            return existing
        options = {"image": image, "label": label, "tags": list(tags), "booted": booted}
        if firewall_id is not None:
            options["firewall"] = firewall_id
        if private_ip:
            options["private_ip"] = True
        if authorized_keys:
            options["authorized_keys"] = list(authorized_keys)
        else:
            options["root_pass"] = secrets.token_urlsafe(32)
        if user_data is not None:
            options["metadata"] = {"user_data": base64.b64encode(user_data.encode()).decode()}
        return self._call(
            "create instance",
            label,
            lambda: _server(self._client.linode.instance_create(type, region, **options)),
            recover=lambda: self._adopt_instance(label, tags),
        )

    def _adopt_instance(self, label, tags):
        """The existing Linode ``label`` if it is ours (carries ``tags``); None if there is none."""
        found = self.find_instance(label)
        if found is not None and not set(tags) <= set(found.tags):
            missing = ", ".join(sorted(set(tags) - set(found.tags)))
            raise errors.Conflict(
                "create instance",
                label,
                [f"Linode {found.id} already has this label but lacks tags {missing}"],
            )
        return found

    def set_instance_tags(self, instance_id, tags):
        """Replace the tags of Linode ``instance_id`` with ``tags``; return the Linode."""
        return self._replace_tags("tag instance", api.Instance, instance_id, tags, _server_json)

    def disable_watchdog(self, instance_id):
        """Turn off Lassie, the Shutdown Watchdog, on Linode ``instance_id``, so that a machine powering
        itself off (a sealed builder) stays off instead of being booted again; return the Linode."""
        target = api.Instance(self._client, instance_id)
        return self._call(
            "disable the watchdog of instance",
            instance_id,
            lambda: _server_json(
                self._client,
                self._client.put(api.Instance.api_endpoint, model=target, data={"watchdog_enabled": False}),
            ),
        )

    def boot(self, instance_id):
        """Boot Linode ``instance_id`` (its last booted config); see :meth:`wait_for_status`."""
        instance = api.Instance(self._client, instance_id)
        self._act("boot instance", instance_id, instance.boot, {"booting", "running"})

    def shutdown(self, instance_id):
        """Shut Linode ``instance_id`` down; see :meth:`wait_for_status`."""
        instance = api.Instance(self._client, instance_id)
        self._act("shut down instance", instance_id, instance.shutdown, {"shutting_down", "offline"})

    def reboot(self, instance_id):
        """Reboot Linode ``instance_id``; see :meth:`wait_for_status`."""
        instance = api.Instance(self._client, instance_id)
        self._act("reboot instance", instance_id, instance.reboot, {"rebooting", "booting"})

    def _act(self, operation, instance_id, request, effect):
        """Send an instance action; after a lost answer, a status in ``effect`` means it was done."""

        def done():
            return True if self.get_instance(instance_id).status in effect else None

        self._call(operation, instance_id, request, recover=done)

    def delete_instance(self, instance_id, timeout=DELETE_TIMEOUT):
        """Delete Linode ``instance_id`` and wait until the API no longer has it (a deleted Linode stays
        listed, ``deleting``, for a few seconds); one that is already gone counts as deleted.

        Raises :class:`~salt_immutable.errors.ProviderTimeout` when it is still there after ``timeout`` s.
        """
        self._delete("delete instance", instance_id, api.Instance(self._client, instance_id))
        deadline = self.deadline(timeout)
        while True:
            try:
                server = self.get_instance(instance_id)
            except errors.NotFound:
                return
            deadline.check("wait for delete", server.label, f"still {server.status}")
            self._sleep(deadline.pause(self.poll_interval))

    def wait_for_status(self, instance_id, wanted, deadline, moving=False):
        """Poll Linode ``instance_id`` with fresh reads until its status is ``wanted``; return it.

        Raises :class:`~salt_immutable.errors.ProviderTimeout` when ``deadline`` expires first, and
        :class:`~salt_immutable.errors.ActionFailed` when the Linode, after being seen in transition,
        comes to rest in another status (a boot that ends ``offline``). ``moving`` says the caller
        knows an action is under way (a create boots): at rest on the first read means it failed.
        """
        moved = moving
        while True:
            server = self.get_instance(instance_id)
            if server.status == wanted:
                return server
            if server.status in SETTLED_STATUSES and moved:
                raise errors.ActionFailed(
                    "wait for instance", server.label, [f"it came to rest {server.status}, not {wanted}"]
                )
            moved = moved or server.status not in SETTLED_STATUSES
            deadline.check("wait for instance", server.label, f"not {wanted}, still {server.status}")
            self._sleep(deadline.pause(self.poll_interval))

    def root_disk(self, instance_id):
        """The root disk of Linode ``instance_id``: its first ext4 (or ext3) disk, never the swap."""
        disks = self._call(
            "list disks",
            instance_id,
            lambda: [_disk(d) for d in _every(api.Instance(self._client, instance_id).disks)],
        )
        for disk in disks:
            if disk.filesystem in ROOT_FILESYSTEMS:
                return disk
        raise errors.NotFound("find root disk", instance_id, ["the Linode has no ext4 disk"])

    def config_ids(self, instance_id):
        """The ids of the configuration profiles of Linode ``instance_id``, in the API's order."""
        return self._call(
            "list configs",
            instance_id,
            lambda: tuple(c.id for c in _every(api.Instance(self._client, instance_id).configs)),
        )

    # -- images ------------------------------------------------------------------------------------

    def capture_image(self, disk_id, label, *, description=None, tags=()):
        """Capture disk ``disk_id`` (of a Linode that is shut down) as a cloud-init image.

        Returns the image, usually still ``creating``; see :meth:`wait_for_image`. Idempotent: an
        existing private image with ``label`` and all of ``tags`` is returned instead.
        """
        existing = self.find_image(label, tags)
        if existing is not None:
            return existing
        return self._call(
            "capture image",
            label,
            lambda: _image(
                self._client.images.create(
                    disk_id, label=label, description=description or None, cloud_init=True, tags=list(tags)
                )
            ),
            recover=lambda: self.find_image(label, tags),
        )

    def get_image(self, image_id):
        """A fresh read of image ``image_id`` (``GET /images/{id}``, never the rate-limited list)."""
        return self._call("get image", image_id, lambda: _image(self._client.load(api.Image, image_id)))

    def list_images(self, tags=()):
        """The private images carrying all of ``tags``."""
        where = _all_of([api.Image.tags == tag for tag in tags])
        found = self._list("list images", ",".join(tags) or None, self._client.images, where, _image)
        return [image for image in found if not image.is_public]

    def find_image(self, label, tags=()):
        """The first private image labelled ``label`` that carries all of ``tags``, or None.

        Image labels are not unique, hence the tags.
        """
        found = self._list("find image", label, self._client.images, api.Image.label == label, _image)
        for image in found:
            if not image.is_public and set(tags) <= set(image.tags):
                return image
        return None

    def wait_for_image(self, image_id, deadline):
        """Poll image ``image_id`` by id until it is ``available``; return it.

        Raises :class:`~salt_immutable.errors.ActionFailed` when the image vanishes (a failed capture)
        and :class:`~salt_immutable.errors.ProviderTimeout` when ``deadline`` expires first.
        """
        while True:
            try:
                image = self.get_image(image_id)
            except errors.NotFound as exc:
                raise errors.ActionFailed(
                    "wait for image", image_id, ["the image is gone: its capture failed"], exc.status
                ) from exc
            if image.status == "available":
                return image
            deadline.check("wait for image", image_id, f"not available, still {image.status}")
            self._sleep(deadline.pause(self.poll_interval))

    def set_image_tags(self, image_id, tags):
        """Replace the tags of image ``image_id`` with ``tags``; return the image."""
        return self._replace_tags("tag image", api.Image, image_id, tags, _image_json)

    def _replace_tags(self, operation, model, object_id, tags, convert):
        """PUT ``{"tags": tags}`` on a ``model`` object (idempotent, so a plain retry is safe)."""
        target = model(self._client, object_id)
        body = {"tags": list(tags)}
        return self._call(
            operation,
            object_id,
            lambda: convert(self._client, self._client.put(model.api_endpoint, model=target, data=body)),
        )

    def delete_image(self, image_id):
        """Delete image ``image_id``; one that is already gone counts as deleted."""
        self._delete("delete image", image_id, api.Image(self._client, image_id))

    # -- volumes -----------------------------------------------------------------------------------

    def create_volume(self, label, size, region, *, tags=()):
        """Create a detached Block Storage volume of ``size`` GB; see :meth:`wait_for_volume`.

        Idempotent: an existing volume labelled ``label`` is returned instead.
        """
        existing = self.find_volume(label)
        if existing is not None:
            return existing
        return self._call(
            "create volume",
            label,
            lambda: _volume(self._client.volumes.create(label, region=region, size=size, tags=list(tags))),
            recover=lambda: self.find_volume(label),
        )

    def get_volume(self, volume_id):
        """A fresh read of volume ``volume_id``."""
        return self._call("get volume", volume_id, lambda: _volume(self._client.load(api.Volume, volume_id)))

    def find_volume(self, label):
        """The volume labelled ``label``, or None."""
        found = self._list("find volume", label, self._client.volumes, api.Volume.label == label, _volume)
        return found[0] if found else None

    def list_volumes(self, tags=()):
        """The volumes carrying all of ``tags``."""
        where = _all_of([api.Volume.tags == tag for tag in tags])
        return self._list("list volumes", ",".join(tags) or None, self._client.volumes, where, _volume)

    def attach_volume(self, volume_id, linode_id, config_id=None):
        """Attach volume ``volume_id`` to Linode ``linode_id`` (in ``config_id``, or the last booted).

        Sent with ``config_id``, the key the API reads (``Volume.attach`` sends ``config``).
        """
        body = {"linode_id": linode_id}
        if config_id is not None:
            body["config_id"] = config_id
        volume = api.Volume(self._client, volume_id)

        def attached():
            current = self.get_volume(volume_id)
            return current if current.linode_id == linode_id else None

        return self._call(
            "attach volume",
            volume_id,
            lambda: _volume_json(
                self._client, self._client.post(f"{api.Volume.api_endpoint}/attach", model=volume, data=body)
            ),
            recover=attached,
        )

    def detach_volume(self, volume_id):
        """Detach volume ``volume_id`` from its Linode."""

        def detached():
            return True if self.get_volume(volume_id).linode_id is None else None

        self._call(
            "detach volume", volume_id, lambda: api.Volume(self._client, volume_id).detach(), recover=detached
        )

    def set_volume_tags(self, volume_id, tags):
        """Replace the tags of volume ``volume_id`` with ``tags``; return the volume."""
        return self._replace_tags("tag volume", api.Volume, volume_id, tags, _volume_json)

    def delete_volume(self, volume_id):
        """Delete (detached) volume ``volume_id``; one that is already gone counts as deleted."""
        self._delete("delete volume", volume_id, api.Volume(self._client, volume_id))

    def wait_for_volume(self, volume_id, deadline):
        """Poll volume ``volume_id`` until it is ``active``; return it."""
        while True:
            volume = self.get_volume(volume_id)
            if volume.status == "active":
                return volume
            deadline.check("wait for volume", volume.label, f"not active, still {volume.status}")
            self._sleep(deadline.pause(self.poll_interval))

    # -- NodeBalancers and their configs -----------------------------------------------------------

    def find_nodebalancer(self, label):
        """The NodeBalancer labelled ``label``, or None."""
        found = self._list(
            "find nodebalancer",
            label,
            self._client.nodebalancers,
            api.NodeBalancer.label == label,
            _nodebalancer,
        )
        return found[0] if found else None

    def list_nodebalancers(self, tags=()):
        """The NodeBalancers carrying all of ``tags`` (an account holds few: filtered here, not by the API)."""
        return self._list_tagged("list nodebalancers", tags, self._client.nodebalancers, _nodebalancer)

    def delete_nodebalancer(self, nodebalancer_id):
        """Delete NodeBalancer ``nodebalancer_id`` (its configs and nodes go with it); gone counts as deleted."""
        self._delete("delete nodebalancer", nodebalancer_id, api.NodeBalancer(self._client, nodebalancer_id))

    def get_nodebalancer(self, nodebalancer_id):
        """A fresh read of NodeBalancer ``nodebalancer_id``."""
        return self._call(
            "get nodebalancer",
            nodebalancer_id,
            lambda: _nodebalancer(self._client.load(api.NodeBalancer, nodebalancer_id)),
        )

    def create_nodebalancer(self, label, region, *, tags=()):
        """Create a NodeBalancer (it has no config yet) and return it.

        Idempotent: an existing NodeBalancer labelled ``label`` (labels are unique per account) is
        returned instead, whatever its region and tags.
        """
        existing = self.find_nodebalancer(label)
        if existing is not None:
            return existing
        return self._call(
            "create nodebalancer",
            label,
            lambda: _nodebalancer(self._client.nodebalancers.create(region, label=label, tags=list(tags))),
            recover=lambda: self.find_nodebalancer(label),
        )

    def list_nodebalancer_configs(self, nodebalancer_id):
        """The configs (ports) of NodeBalancer ``nodebalancer_id``, freshly listed."""
        nodebalancer = api.NodeBalancer(self._client, nodebalancer_id)
        return self._call(
            "list nodebalancer configs",
            nodebalancer_id,
            lambda: [_nodebalancer_config(c) for c in _every(nodebalancer.configs)],
        )

    def create_nodebalancer_config(
        self,
        nodebalancer_id,
        port,
        *,
        protocol="http",
        check="http",
        check_path="/",
        check_interval=5,
        check_timeout=3,
        check_attempts=2,
    ):
        """Open ``port`` on NodeBalancer ``nodebalancer_id`` with a health check; return the config.

        Idempotent: a config of the NodeBalancer on that port already is returned instead, as it is
        (its protocol and check are not compared).
        """
        settings = {
            "port": port,
            "protocol": protocol,
            "check": check,
            "check_path": check_path,
            "check_interval": check_interval,
            "check_timeout": check_timeout,
            "check_attempts": check_attempts,
        }

        def existing():
            return next((c for c in self.list_nodebalancer_configs(nodebalancer_id) if c.port == port), None)

        found = existing()
        if found is not None:
            return found
        nodebalancer = api.NodeBalancer(self._client, nodebalancer_id)
        return self._call(
            "create nodebalancer config",
            f"{nodebalancer_id}:{port}",
            lambda: _nodebalancer_config(nodebalancer.config_create(**settings)),
            recover=existing,
        )

    # -- NodeBalancer nodes ------------------------------------------------------------------------

    def list_nodes(self, nodebalancer_id, config_id):
        """The nodes of NodeBalancer config ``config_id``, freshly listed."""
        # A new config object each time: linode_api4 caches ``.nodes`` on the object for ever.
        config = api.NodeBalancerConfig(self._client, config_id, nodebalancer_id)
        return self._call(
            "list nodes", f"{nodebalancer_id}/{config_id}", lambda: [_node(n) for n in _every(config.nodes)]
        )

    def create_node(self, nodebalancer_id, config_id, label, address, *, mode="accept", weight=100):
        """Add ``address`` (``private-ip:port``) as a node of the config; return the node.

        Idempotent: a node of the config with that address already is returned instead.
        """

        def existing():
            return next(
                (n for n in self.list_nodes(nodebalancer_id, config_id) if n.address == address), None
            )

        found = existing()
        if found is not None:
            return found
        config = api.NodeBalancerConfig(self._client, config_id, nodebalancer_id)
        return self._call(
            "create node",
            f"{label} ({address})",
            lambda: _node(config.node_create(label, address, mode=mode, weight=weight)),
            recover=existing,
        )

    def update_node(self, nodebalancer_id, config_id, node_id, *, mode=None, weight=None):
        """Change the ``mode`` (accept, reject, drain, backup) and/or ``weight`` of a node."""
        changes = {key: value for key, value in (("mode", mode), ("weight", weight)) if value is not None}
        node = api.NodeBalancerNode(self._client, node_id, (config_id, nodebalancer_id))
        return self._call(
            "update node",
            node_id,
            lambda: _node_json(
                self._client,
                (config_id, nodebalancer_id),
                self._client.put(api.NodeBalancerNode.api_endpoint, model=node, data=changes),
            ),
        )

    def delete_node(self, nodebalancer_id, config_id, node_id):
        """Remove node ``node_id``; one that is already gone counts as removed."""
        self._delete(
            "delete node", node_id, api.NodeBalancerNode(self._client, node_id, (config_id, nodebalancer_id))
        )

    # -- catalogue ---------------------------------------------------------------------------------

    # -- Cloud Firewalls ----------------------------------------------------------------------------

    def find_firewall(self, label):
        """The Cloud Firewall labelled ``label``, or None."""
        found = self._list("find firewall", label, self._client.networking.firewalls, api.Firewall.label == label,
                           _firewall)
        return found[0] if found else None

    def list_firewalls(self, tags=()):
        """The Cloud Firewalls carrying all of ``tags`` (an account holds few: filtered here, not by the API)."""
        return self._list_tagged("list firewalls", tags, self._client.networking.firewalls, _firewall)

    def delete_firewall(self, firewall_id):
        """Delete Cloud Firewall ``firewall_id`` (its devices are released); gone counts as deleted."""
        self._delete("delete firewall", firewall_id, api.Firewall(self._client, firewall_id))

    def get_firewall(self, firewall_id):
        """A fresh read of Cloud Firewall ``firewall_id``."""
        return self._call("get firewall", firewall_id, lambda: _firewall(self._client.load(api.Firewall, firewall_id)))

    def create_firewall(self, label, rules, *, tags=()):
        """Create a Cloud Firewall holding ``rules`` (the API's rules object) and return it.

        Idempotent: an existing firewall labelled ``label`` (labels are unique per account) is returned instead.
        """
        existing = self.find_firewall(label)
        if existing is not None:
            return existing
        return self._call(
            "create firewall",
            label,
            lambda: _firewall(self._client.networking.firewall_create(label, rules, tags=list(tags))),
            recover=lambda: self.find_firewall(label),
        )

    def firewall_rules(self, firewall_id):
        """The rules of firewall ``firewall_id``: inbound, outbound and both policies, as the API gives them."""
        return self._call("get firewall rules", firewall_id,
                          lambda: dict(api.Firewall(self._client, firewall_id).get_rules()))

    def set_firewall_rules(self, firewall_id, rules):
        """Replace every rule of firewall ``firewall_id`` with ``rules`` (idempotent)."""
        self._call("update firewall rules", firewall_id,
                   lambda: api.Firewall(self._client, firewall_id).update_rules(rules))

    def instance_firewalls(self, instance_id):
        """The Cloud Firewalls Linode ``instance_id`` is a device of."""
        return self._call(
            "list instance firewalls", instance_id,
            lambda: [_firewall_json(self._client, body)
                     for body in self._client.get(f"/linode/instances/{instance_id}/firewalls")["data"]],
        )

    def firewall_linode_ids(self, firewall_id):
        """The ids of the Linodes that are devices of firewall ``firewall_id`` (its NodeBalancers left out)."""
        return self._call("list firewall devices", firewall_id, lambda: frozenset(
            device.entity.id for device in _every(api.Firewall(self._client, firewall_id).devices)
            if device.entity.type == "linode"))

    def type_hourly_price(self, type_id):
        """The hourly price in US dollars of Linode type ``type_id`` (its base price, ``price.hourly``)."""
        return self._call(
            "get type price", type_id, lambda: float(self._client.load(api.Type, type_id).price.hourly)
        )

    # -- the one place that talks to the API --------------------------------------------------------

    def _list(self, operation, resource, listing, where, convert):
        """Everything ``listing`` (a linode_api4 collection) holds that matches ``where``, converted."""
        filters = () if where is None else (where,)
        return self._call(operation, resource, lambda: [convert(o) for o in _every(listing(*filters))])

    def _list_tagged(self, operation, tags, listing, convert):
        """Everything ``listing`` holds that carries all of ``tags``, filtered here (for collections whose
        API filter cannot match tags)."""
        found = self._list(operation, ",".join(tags) or None, listing, None, convert)
        return [item for item in found if set(tags) <= set(item.tags)]

    def _delete(self, operation, resource, obj):
        try:
            self._call(operation, resource, obj.delete)
        except errors.NotFound:
            log.debug("%s %s: already gone", operation, resource)

    def _call(self, operation, resource, action, recover=None):
        """Run ``action`` (API requests and the conversion of their answers) under the retry policy.

        A failure worth retrying is retried up to ``max_attempts`` tries in all; any other failure,
        or the last one, is raised as the project's exception. ``recover`` guards an action that must
        not happen twice (a create, a boot): after a failure that may have followed the API's work
        (a timeout, a 502), it looks for the effect and returns it, ending the call; None means the
        effect is absent and the action may run again.
        """
        attempt = 1
        while True:
            if self.budget is not None:
                self.budget.take()
            try:
                return action()
            except (api.ApiError, api.UnexpectedResponseError, requests.RequestException, ListChanged) as exc:
                failure, cause = classify(exc), exc
            if not failure.retryable or attempt >= self.max_attempts:
                # This try may have been performed with its answer lost, or it may have been refused
                # as a duplicate of an earlier try that was: either way the effect may be there.
                if recover is not None and (failure.retryable or attempt > 1):
                    found = recover()
                    if found is not None:
                        return found
                extra = [f"gave up after {attempt} attempts"] if failure.retryable else []
                raise self._scrubbed(failure.error(operation, resource, extra)) from cause
            delay = backoff_delay(attempt, self.backoff, self.max_backoff, self._rng, failure.retry_after)
            log.warning(
                "%s %s: %s; attempt %d of %d, retrying in %.1f s",
                operation,
                resource,
                self._scrub("; ".join(failure.reasons) or f"HTTP {failure.status}"),
                attempt,
                self.max_attempts,
                delay,
            )
            self._sleep(delay)
            if recover is not None:
                found = recover()
                if found is not None:
                    return found
            attempt += 1

    def _scrub(self, text):
        """``text`` with the token masked, should an answer ever have echoed it."""
        return text.replace(self._token, "<token>") if self._token else text

    def _scrubbed(self, error):
        """``error`` with the token masked in its reasons and message."""
        error.reasons = tuple(self._scrub(reason) for reason in error.reasons)
        error.args = tuple(self._scrub(arg) if isinstance(arg, str) else arg for arg in error.args)
        return error


# -- conversions at the boundary: nothing lazy leaves the adapter --------------------------------------


def _slug(value):
    """The id of a related object (region, type, image), or None."""
    return getattr(value, "id", value)


def _utc(value):
    """linode_api4's naive UTC datetime as an aware one; None when the API gave none."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _private_ip(addresses):
    for address in addresses:
        if any(ipaddress.ip_address(address) in net for net in PRIVATE_NETWORKS):
            return address
    return addresses[0] if addresses else None


def _server(obj):
    ipv4 = tuple(obj.ipv4 or ())
    return ObservedServer(
        id=obj.id,
        label=obj.label,
        status=obj.status,
        tags=tuple(obj.tags or ()),
        ipv4=ipv4,
        private_ip=_private_ip(ipv4),
        region=_slug(obj.region),
        type=_slug(obj.type),
        image=_slug(obj.image),
        created=_utc(obj.created),
    )


def _server_json(client, body):
    return _server(api.Instance(client, body["id"], body))


def _disk(obj):
    return Disk(id=obj.id, label=obj.label, filesystem=obj.filesystem, size=obj.size, status=obj.status)


def _image(obj):
    return ImageRef(
        id=obj.id,
        label=obj.label,
        status=obj.status,
        size=obj.size,
        tags=tuple(obj.tags or ()),
        description=obj.description or "",
        created=_utc(obj.created),
        capabilities=tuple(obj.capabilities or ()),
        is_public=bool(obj.is_public),
    )


def _image_json(client, body):
    return _image(api.Image(client, body["id"], body))


def _volume(obj):
    return VolumeRef(
        id=obj.id,
        label=obj.label,
        size=obj.size,
        region=_slug(obj.region),
        status=obj.status,
        linode_id=obj.linode_id,
        filesystem_path=obj.filesystem_path or "",
        tags=tuple(obj.tags or ()),
    )


def _volume_json(client, body):
    return _volume(api.Volume(client, body["id"], body))


def _node(obj):
    return NodeBalancerNode(
        id=obj.id,
        config_id=obj.config_id,
        nodebalancer_id=obj.nodebalancer_id,
        label=obj.label,
        address=obj.address,
        mode=obj.mode,
        status=obj.status,
        weight=obj.weight,
    )


def _node_json(client, parent, body):
    return _node(api.NodeBalancerNode(client, body["id"], parent, json=body))


def _nodebalancer(obj):
    return NodeBalancerRef(
        id=obj.id,
        label=obj.label,
        region=_slug(obj.region),
        ipv4=_slug(obj.ipv4),
        hostname=obj.hostname,
        tags=tuple(obj.tags or ()),
    )


def _nodebalancer_config(obj):
    return NodeBalancerConfigRef(
        id=obj.id,
        nodebalancer_id=obj.nodebalancer_id,
        port=obj.port,
        protocol=obj.protocol,
        check=obj.check,
        check_path=obj.check_path or "",
        check_interval=obj.check_interval,
        check_timeout=obj.check_timeout,
        check_attempts=obj.check_attempts,
    )


def _firewall(obj):
    return FirewallRef(id=obj.id, label=obj.label, status=obj.status, tags=tuple(obj.tags or ()))


def _firewall_json(client, body):
    return _firewall(api.Firewall(client, body["id"], json=body))
