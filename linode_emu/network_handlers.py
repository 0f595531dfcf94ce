"""Thin handlers of NodeBalancers and Cloud Firewalls (see ``linode_emu.handlers`` for the pattern)."""

from __future__ import annotations

from linode_emu.backend import Backend
from linode_emu.wire import (
    FIREWALL_DEVICE_FILTERS,
    FIREWALL_FILTERS,
    NODEBALANCER_FILTERS,
    NOTHING_FILTERABLE,
    ApiRequest,
    Body,
    done,
    listing,
)

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
    "udp_check_port": "integer",
}
_NODEBALANCER_SETTINGS = {
    "client_conn_throttle": "integer",
    "client_udp_sess_throttle": "integer",
    "type": "text",
    "backend_connectivity": "text",
}


def list_nodebalancers(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_nodebalancers(), NODEBALANCER_FILTERS)


def create_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_nodebalancer(
        region=body.text("region"),
        label=body.text("label"),
        tags=body.texts("tags"),
        firewall_id=body.integer("firewall_id"),
        **body.changes(**_NODEBALANCER_SETTINGS),
    )


def list_nodebalancer_types(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_nodebalancer_types(), NOTHING_FILTERABLE)


def get_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_nodebalancer(request.int_param("id"))


def update_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    changes = Body.parse(request.body).changes(
        label="text", tags="texts", client_conn_throttle="integer", client_udp_sess_throttle="integer"
    )
    return backend.update_nodebalancer(request.int_param("id"), changes)


def delete_nodebalancer(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_nodebalancer(request.int_param("id")))


def list_nodebalancer_configs(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_nodebalancer_configs(request.int_param("id")), NOTHING_FILTERABLE)


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
    return done(backend.delete_nodebalancer_config(request.int_param("id"), request.int_param("config_id")))


def list_nodebalancer_nodes(backend: Backend, request: ApiRequest) -> dict:
    nodes = backend.list_nodebalancer_nodes(request.int_param("id"), request.int_param("config_id"))
    return listing(request, nodes, NOTHING_FILTERABLE)


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
    return done(
        backend.delete_nodebalancer_node(
            request.int_param("id"), request.int_param("config_id"), request.int_param("node_id")
        )
    )


# ---------------------------------------------------------------- firewalls


def list_firewalls(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_firewalls(), FIREWALL_FILTERS)


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
    return done(backend.delete_firewall(request.int_param("id")))


def get_firewall_rules(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall_rules(request.int_param("id"))


def update_firewall_rules(backend: Backend, request: ApiRequest) -> dict:
    # The body is the rules object; its nested shape is checked with its domain rules (firewall_rules).
    return backend.update_firewall_rules(request.int_param("id"), Body.parse(request.body).as_dict())


def list_firewall_rule_versions(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_firewall_rule_versions(request.int_param("id")), NOTHING_FILTERABLE)


def get_firewall_rule_version(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall_rule_version(request.int_param("id"), request.int_param("version"))


def apply_instance_firewalls(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.apply_instance_firewalls(request.int_param("id")))


def list_firewall_devices(backend: Backend, request: ApiRequest) -> dict:
    devices = backend.list_firewall_devices(request.int_param("id"))
    return listing(request, devices, FIREWALL_DEVICE_FILTERS)


def create_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    body = Body.parse(request.body)
    return backend.create_firewall_device(request.int_param("id"), body.integer("id"), body.text("type"))


def get_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    return backend.get_firewall_device(request.int_param("id"), request.int_param("device_id"))


def delete_firewall_device(backend: Backend, request: ApiRequest) -> dict:
    return done(backend.delete_firewall_device(request.int_param("id"), request.int_param("device_id")))


def list_instance_firewalls(backend: Backend, request: ApiRequest) -> dict:
    return listing(request, backend.list_instance_firewalls(request.int_param("id")), FIREWALL_FILTERS)


def list_nodebalancer_firewalls(backend: Backend, request: ApiRequest) -> dict:
    firewalls = backend.list_nodebalancer_firewalls(request.int_param("id"))
    return listing(request, firewalls, FIREWALL_FILTERS)


