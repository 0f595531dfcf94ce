"""Thin handlers: parse the request (JSON body, X-Filter, pagination), check the wire shape of its
fields, call one backend verb, and return the JSON answer. No state lives here.

Every handler is ``handler(backend, request) -> dict``; the HTTP status is 200 (Linode answers 200
with the object for creates and ``{}`` for actions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from linode_emu import filters, pagination
from linode_emu.backend import Backend
from linode_emu.errors import EmuApiError, invalid

# What each collection accepts in X-Filter (linode-api-facts.md; the OpenAPI spec for the rest).
INSTANCE_FILTERS = frozenset({"group", "id", "ipv4", "label", "region", "tags"})
IMAGE_FILTERS = frozenset({"deprecated", "is_public", "label", "size", "status", "tags", "type", "vendor"})
VOLUME_FILTERS = frozenset({"label", "tags"})
NODEBALANCER_FILTERS = frozenset({"ipv4", "label", "region", "tags"})
EVENT_FILTERS = frozenset({"action", "created", "entity.id", "entity.type", "id", "read"})
TYPE_FILTERS = frozenset({"class", "disk", "gpus", "label", "memory", "network_out", "transfer", "vcpus"})
DISK_FILTERS = frozenset({"label", "size"})
CONFIG_FILTERS = frozenset({"label"})
FIREWALL_FILTERS = frozenset({"created", "id", "label", "tags", "updated"})
FIREWALL_DEVICE_FILTERS = frozenset({"created", "id", "updated"})
NOTHING_FILTERABLE = frozenset()


@dataclass
class ApiRequest:
    """One API request as the handlers see it (``path`` is after ``/v4``, percent-decoded)."""

    method: str
    path: str
    params: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    body: bytes = b""
    filter_header: str | None = None

    def int_param(self, name: str) -> int:
        return int(self.params[name])


class Body:
    """A JSON request object with typed accessors; a wrong type is a 400 naming the field.

    A missing field and an explicit ``null`` both give the default.
    """

    def __init__(self, data: dict, prefix: str = ""):
        self._data = data
        self._prefix = prefix

    @classmethod
    def parse(cls, raw: bytes) -> Body:
        if not raw.strip():
            return cls({})
        try:
            data = json.loads(raw)
        except ValueError:
            raise EmuApiError(400, "Request body must be valid JSON") from None
        if not isinstance(data, dict):
            raise EmuApiError(400, "Request body must be a JSON object")
        return cls(data)

    def as_dict(self) -> dict:
        return dict(self._data)

    def has(self, name: str) -> bool:
        return self._data.get(name) is not None

    def text(self, name: str, default=None):
        return self._get(name, default, lambda value: isinstance(value, str), "a string")

    def integer(self, name: str, default=None):
        return self._get(
            name, default, lambda value: isinstance(value, int) and not isinstance(value, bool), "an integer"
        )

    def number(self, name: str, default=None):
        return self._get(
            name,
            default,
            lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
            "a number",
        )

    def boolean(self, name: str, default=None):
        return self._get(name, default, lambda value: isinstance(value, bool), "a boolean")

    def texts(self, name: str, default=None):
        return self._get(
            name,
            default,
            lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
            "a list of strings",
        )

    def integers(self, name: str):
        return self._get(
            name,
            [],
            lambda value: isinstance(value, list) and all(type(item) is int for item in value),
            "a list of integers",
        )

    def mapping(self, name: str):
        return self._get(name, None, lambda value: isinstance(value, dict), "an object")

    def object(self, name: str) -> Body:
        """A nested object, whose field errors are named ``<name>.<field>``."""
        return Body(self.mapping(name) or {}, prefix=f"{self._prefix}{name}.")

    def changes(self, **kinds: str) -> dict:
        """The fields present among ``kinds`` (name -> accessor name), for a PUT."""
        return {name: getattr(self, kind)(name) for name, kind in kinds.items() if self.has(name)}

    def _get(self, name, default, accepts, expected):
        value = self._data.get(name)
        if value is None:
            return default
        if not accepts(value):
            raise invalid(self._prefix + name, f"{self._prefix + name} must be {expected}")
        return value


def _listing(request: ApiRequest, items: list[dict], filterable: frozenset[str]) -> dict:
    """Filter, order and page ``items`` as the request asks."""
    page, page_size = pagination.page_params(request.query)
    query = filters.parse(request.filter_header, filterable)
    return pagination.envelope(query.apply(items), page, page_size)


def _done(_result=None) -> dict:
    """The answer of an action endpoint: 200 ``{}`` (a 204 would crash linode_api4)."""
    return {}


# ---------------------------------------------------------------- catalogue


def list_regions(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_regions(), NOTHING_FILTERABLE)


def get_region(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_region(request.params["id"])


def list_types(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_types(), TYPE_FILTERS)


def get_type(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_type(request.params["id"])


# ---------------------------------------------------------------- instances


def list_instances(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_instances(), INSTANCE_FILTERS)


def create_instance(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_instance(
        region=body.text("region"),
        type=body.text("type"),
        image=body.text("image"),
        label=body.text("label"),
        tags=body.texts("tags"),
        group=body.text("group", ""),
        root_pass=body.text("root_pass"),
        authorized_keys=body.texts("authorized_keys"),
        authorized_users=body.texts("authorized_users"),
        booted=body.boolean("booted"),
        user_data=body.object("metadata").text("user_data"),
        firewall_id=body.integer("firewall_id"),
    )


def get_instance(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_instance(request.int_param("id"))


def update_instance(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(
        label="text", tags="texts", group="text", watchdog_enabled="boolean", alerts="mapping"
    )
    return backend.update_instance(request.int_param("id"), changes)


def delete_instance(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_instance(request.int_param("id")))


def boot_instance(backend: Backend, request: ApiRequest) -> dict:
    config_id = Body.parse(request.body).integer("config_id")
    return _done(backend.boot_instance(request.int_param("id"), config_id))


def reboot_instance(backend: Backend, request: ApiRequest) -> dict:
    config_id = Body.parse(request.body).integer("config_id")
    return _done(backend.reboot_instance(request.int_param("id"), config_id))


def shutdown_instance(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.shutdown_instance(request.int_param("id")))


def rebuild_instance(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.rebuild_instance(
        request.int_param("id"),
        image=body.text("image"),
        root_pass=body.text("root_pass"),
        authorized_keys=body.texts("authorized_keys"),
        authorized_users=body.texts("authorized_users"),
        booted=body.boolean("booted"),
        user_data=body.object("metadata").text("user_data"),
    )


def list_disks(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_disks(request.int_param("id")), DISK_FILTERS)


def get_disk(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_disk(request.int_param("id"), request.int_param("disk_id"))


def list_configs(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_configs(request.int_param("id")), CONFIG_FILTERS)


def get_config(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_config(request.int_param("id"), request.int_param("config_id"))


def list_instance_volumes(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_instance_volumes(request.int_param("id")), VOLUME_FILTERS)


# ---------------------------------------------------------------- images


def list_images(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_images(), IMAGE_FILTERS)


def create_image(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_image(
        disk_id=body.integer("disk_id"),
        label=body.text("label"),
        description=body.text("description"),
        tags=body.texts("tags"),
        cloud_init=body.boolean("cloud_init", False),
    )


def get_image(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_image(request.params["id"])


def update_image(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", description="text", tags="texts")
    return backend.update_image(request.params["id"], changes)


def delete_image(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_image(request.params["id"]))


# ---------------------------------------------------------------- volumes


def list_volumes(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_volumes(), VOLUME_FILTERS)


def create_volume(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_volume(
        label=body.text("label"),
        size=body.integer("size", 20),
        region=body.text("region"),
        linode_id=body.integer("linode_id"),
        config_id=body.integer("config_id"),
        tags=body.texts("tags"),
    )


def get_volume(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_volume(request.int_param("id"))


def update_volume(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", tags="texts")
    return backend.update_volume(request.int_param("id"), changes)


def delete_volume(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_volume(request.int_param("id")))


def attach_volume(backend: Backend, request: ApiRequest) -> dict:
    # linode_api4's Volume.attach(config=...) sends "config"; the API reads only "config_id".
    body = Body.parse(request.body)
    return backend.attach_volume(
        request.int_param("id"), body.integer("linode_id"), body.integer("config_id")
    )


def detach_volume(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.detach_volume(request.int_param("id")))


# ---------------------------------------------------------------- nodebalancers

_CONFIG_FIELDS = {
    "port": "integer",
    "protocol": "text",
    "algorithm": "text",
    "stickiness": "text",
    "check": "text",
    "check_interval": "integer",
    "check_timeout": "integer",
    "check_attempts": "integer",
    "check_path": "text",
    "check_body": "text",
    "check_passive": "boolean",
    "proxy_protocol": "text",
    "cipher_suite": "text",
    "ssl_cert": "text",
    "ssl_key": "text",
}


def list_nodebalancers(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_nodebalancers(), NODEBALANCER_FILTERS)


def create_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_nodebalancer(
        region=body.text("region"),
        label=body.text("label"),
        tags=body.texts("tags"),
        client_conn_throttle=body.integer("client_conn_throttle", 0),
        firewall_id=body.integer("firewall_id"),
    )


def get_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_nodebalancer(request.int_param("id"))


def update_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", tags="texts", client_conn_throttle="integer")
    return backend.update_nodebalancer(request.int_param("id"), changes)


def delete_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_nodebalancer(request.int_param("id")))


def list_nodebalancer_configs(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_nodebalancer_configs(request.int_param("id")), NOTHING_FILTERABLE)


def create_nodebalancer_config(backend: Backend, request: ApiRequest) -> dict:
    settings = Body.parse(request.body).changes(**_CONFIG_FIELDS)
    return backend.create_nodebalancer_config(request.int_param("id"), settings)


def get_nodebalancer_config(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_nodebalancer_config(request.int_param("id"), request.int_param("config_id"))


def update_nodebalancer_config(backend: Backend, request: ApiRequest) -> dict:
    settings = Body.parse(request.body).changes(**_CONFIG_FIELDS)
    return backend.update_nodebalancer_config(
        request.int_param("id"), request.int_param("config_id"), settings
    )


def delete_nodebalancer_config(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_nodebalancer_config(request.int_param("id"), request.int_param("config_id")))


def list_nodebalancer_nodes(backend: Backend, request: ApiRequest) -> dict:
    nodes = backend.list_nodebalancer_nodes(request.int_param("id"), request.int_param("config_id"))
    return _listing(request, nodes, NOTHING_FILTERABLE)


def create_nodebalancer_node(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_nodebalancer_node(
        request.int_param("id"),
        request.int_param("config_id"),
        label=body.text("label"),
        address=body.text("address"),
        weight=body.integer("weight", 100),
        mode=body.text("mode", "accept"),
    )


def get_nodebalancer_node(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_nodebalancer_node(
        request.int_param("id"), request.int_param("config_id"), request.int_param("node_id")
    )


def update_nodebalancer_node(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", address="text", weight="integer", mode="text")
    return backend.update_nodebalancer_node(
        request.int_param("id"), request.int_param("config_id"), request.int_param("node_id"), changes
    )


def delete_nodebalancer_node(backend: Backend, request: ApiRequest) -> dict:
    return _done(
        backend.delete_nodebalancer_node(
            request.int_param("id"), request.int_param("config_id"), request.int_param("node_id")
        )
    )


# ---------------------------------------------------------------- firewalls


def list_firewalls(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_firewalls(), FIREWALL_FILTERS)


def create_firewall(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    devices = body.object("devices")
    return backend.create_firewall(
        label=body.text("label"),
        rules=body.mapping("rules"),
        tags=body.texts("tags"),
        linodes=devices.integers("linodes"),
        nodebalancers=devices.integers("nodebalancers"),
        linode_interfaces=devices.integers("linode_interfaces"),
    )


def get_firewall(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall(request.int_param("id"))


def update_firewall(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(label="text", tags="texts", status="text")
    return backend.update_firewall(request.int_param("id"), changes)


def delete_firewall(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_firewall(request.int_param("id")))


def get_firewall_rules(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall_rules(request.int_param("id"))


def update_firewall_rules(backend: Backend, request: ApiRequest) -> dict:
    # The body is the rules object; its nested shape is checked with its domain rules (firewall_rules).
    return backend.update_firewall_rules(request.int_param("id"), Body.parse(request.body).as_dict())


def list_firewall_devices(backend: Backend, request: ApiRequest) -> dict:
    devices = backend.list_firewall_devices(request.int_param("id"))
    return _listing(request, devices, FIREWALL_DEVICE_FILTERS)


def create_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_firewall_device(request.int_param("id"), body.integer("id"), body.text("type"))


def get_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall_device(request.int_param("id"), request.int_param("device_id"))


def delete_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_firewall_device(request.int_param("id"), request.int_param("device_id")))


def list_instance_firewalls(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_instance_firewalls(request.int_param("id")), FIREWALL_FILTERS)


def list_nodebalancer_firewalls(backend: Backend, request: ApiRequest) -> dict:
    firewalls = backend.list_nodebalancer_firewalls(request.int_param("id"))
    return _listing(request, firewalls, FIREWALL_FILTERS)


# ---------------------------------------------------------------- tags


def list_tags(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_tags(), NOTHING_FILTERABLE)


def create_tag(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_tag(
        body.text("label"),
        linodes=body.integers("linodes"),
        volumes=body.integers("volumes"),
        nodebalancers=body.integers("nodebalancers"),
    )


def get_tagged_objects(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.tagged_objects(request.params["label"]), NOTHING_FILTERABLE)


def delete_tag(backend: Backend, request: ApiRequest) -> dict:
    return _done(backend.delete_tag(request.params["label"]))


# ---------------------------------------------------------------- events


def list_events(backend: Backend, request: ApiRequest) -> dict:
    return _listing(request, backend.list_events(), EVENT_FILTERS)


def get_event(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_event(request.int_param("id"))
