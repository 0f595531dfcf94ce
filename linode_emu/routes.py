"""The route table: (method, path pattern) -> handler, with each route's rate-limit class.

Patterns are written as Linode documents them, with ``{id}``-style placeholders; ``"GET /images/{id}"``
is also the route's key in the request statistics. Ids are digits except image ids
(``linode/debian12``, ``private/123``) and tag labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from linode_emu import handlers as h
from linode_emu import network_handlers as n
from linode_emu import storage_handlers as st

_DIGITS = r"\d+"
_IMAGE_ID = r"[a-z]+/[^/]+"
_ANY_SEGMENT = r"[^/]+"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Callable
    rate_class: str
    regex: re.Pattern

    @property
    def key(self) -> str:
        return f"{self.method} {self.pattern}"


def _route(
    method: str, pattern: str, handler: Callable, rate_class: str = "default", id_regex=_DIGITS
) -> Route:
    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        regex = {"id": id_regex, "label": _ANY_SEGMENT}.get(name, _DIGITS)
        return f"(?P<{name}>{regex})"

    regex = re.compile(re.sub(r"\{(\w+)\}", placeholder, pattern))
    return Route(method, pattern, handler, rate_class, regex)


def _list(pattern: str, handler: Callable, rate_class: str = "collection") -> Route:
    return _route("GET", pattern, handler, rate_class)


_INSTANCE = "/linode/instances/{id}"
_DISK = _INSTANCE + "/disks/{disk_id}"
_NODEBALANCER_CONFIG = "/nodebalancers/{id}/configs/{config_id}"
_FIREWALL = "/networking/firewalls/{id}"

ROUTES = [
    _list("/regions", h.list_regions),
    _route("GET", "/regions/{id}", h.get_region, id_regex=_ANY_SEGMENT),
    _list("/linode/types", h.list_types),
    _route("GET", "/linode/types/{id}", h.get_type, id_regex=_ANY_SEGMENT),
    _list("/linode/instances", h.list_instances),
    _route("POST", "/linode/instances", h.create_instance, "linode_create"),
    _route("GET", _INSTANCE, h.get_instance),
    _route("PUT", _INSTANCE, h.update_instance),
    _route("DELETE", _INSTANCE, h.delete_instance),
    _route("POST", _INSTANCE + "/boot", h.boot_instance),
    _route("POST", _INSTANCE + "/reboot", h.reboot_instance),
    _route("POST", _INSTANCE + "/shutdown", h.shutdown_instance),
    _route("POST", _INSTANCE + "/rebuild", h.rebuild_instance),
    _route("POST", _INSTANCE + "/resize", h.resize_instance),
    _route("POST", _INSTANCE + "/password", h.reset_instance_password),
    _route("GET", _INSTANCE + "/transfer", h.get_instance_transfer),
    _route("GET", _INSTANCE + "/ips", h.list_instance_ips),
    _list(_INSTANCE + "/disks", h.list_disks),
    _route("POST", _INSTANCE + "/disks", h.create_disk),
    _route("GET", _DISK, h.get_disk),
    _route("DELETE", _DISK, h.delete_disk),
    _route("POST", _DISK + "/resize", h.resize_disk),
    _route("POST", _DISK + "/clone", h.clone_disk),
    _list(_INSTANCE + "/configs", h.list_configs),
    _route("POST", _INSTANCE + "/configs", h.create_config),
    _route("GET", _INSTANCE + "/configs/{config_id}", h.get_config),
    _route("PUT", _INSTANCE + "/configs/{config_id}", h.update_config),
    _list(_INSTANCE + "/volumes", h.list_instance_volumes),
    _list(_INSTANCE + "/firewalls", n.list_instance_firewalls),
    _route("POST", _INSTANCE + "/firewalls/apply", n.apply_instance_firewalls),
    _route("GET", "/networking/ips/{id}", h.get_ip, id_regex=_ANY_SEGMENT),
    _list("/images", st.list_images, "image_list"),
    _route("POST", "/images", st.create_image),
    _route("POST", "/images/upload", st.create_image_upload),
    _route("GET", "/images/{id}", st.get_image, id_regex=_IMAGE_ID),
    _route("PUT", "/images/{id}", st.update_image, id_regex=_IMAGE_ID),
    _route("DELETE", "/images/{id}", st.delete_image, id_regex=_IMAGE_ID),
    _route("POST", "/images/{id}/regions", st.replicate_image, id_regex=_IMAGE_ID),
    _list("/volumes", st.list_volumes),
    _list("/volumes/types", st.list_volume_types),
    _route("POST", "/volumes", st.create_volume, "volume_create"),
    _route("GET", "/volumes/{id}", st.get_volume),
    _route("PUT", "/volumes/{id}", st.update_volume),
    _route("DELETE", "/volumes/{id}", st.delete_volume),
    _route("POST", "/volumes/{id}/attach", st.attach_volume),
    _route("POST", "/volumes/{id}/detach", st.detach_volume),
    _route("POST", "/volumes/{id}/resize", st.resize_volume),
    _route("POST", "/volumes/{id}/clone", st.clone_volume),
    _list("/nodebalancers", n.list_nodebalancers),
    _list("/nodebalancers/types", n.list_nodebalancer_types),
    _route("POST", "/nodebalancers", n.create_nodebalancer),
    _route("GET", "/nodebalancers/{id}", n.get_nodebalancer),
    _route("PUT", "/nodebalancers/{id}", n.update_nodebalancer),
    _route("DELETE", "/nodebalancers/{id}", n.delete_nodebalancer),
    _list("/nodebalancers/{id}/configs", n.list_nodebalancer_configs),
    _route("POST", "/nodebalancers/{id}/configs", n.create_nodebalancer_config),
    _route("GET", _NODEBALANCER_CONFIG, n.get_nodebalancer_config),
    _route("PUT", _NODEBALANCER_CONFIG, n.update_nodebalancer_config),
    _route("DELETE", _NODEBALANCER_CONFIG, n.delete_nodebalancer_config),
    _list(_NODEBALANCER_CONFIG + "/nodes", n.list_nodebalancer_nodes),
    _route("POST", _NODEBALANCER_CONFIG + "/nodes", n.create_nodebalancer_node),
    _route("GET", _NODEBALANCER_CONFIG + "/nodes/{node_id}", n.get_nodebalancer_node),
    _route("PUT", _NODEBALANCER_CONFIG + "/nodes/{node_id}", n.update_nodebalancer_node),
    _route("DELETE", _NODEBALANCER_CONFIG + "/nodes/{node_id}", n.delete_nodebalancer_node),
    _list("/nodebalancers/{id}/firewalls", n.list_nodebalancer_firewalls),
    _list("/networking/firewalls", n.list_firewalls),
    _route("POST", "/networking/firewalls", n.create_firewall),
    _route("GET", _FIREWALL, n.get_firewall),
    _route("PUT", _FIREWALL, n.update_firewall),
    _route("DELETE", _FIREWALL, n.delete_firewall),
    _route("GET", _FIREWALL + "/rules", n.get_firewall_rules),
    _route("PUT", _FIREWALL + "/rules", n.update_firewall_rules),
    _list(_FIREWALL + "/history", n.list_firewall_rule_versions),
    _route("GET", _FIREWALL + "/history/rules/{version}", n.get_firewall_rule_version),
    _list(_FIREWALL + "/devices", n.list_firewall_devices),
    _route("POST", _FIREWALL + "/devices", n.create_firewall_device),
    _route("GET", _FIREWALL + "/devices/{device_id}", n.get_firewall_device),
    _route("DELETE", _FIREWALL + "/devices/{device_id}", n.delete_firewall_device),
    _list("/tags", h.list_tags),
    _route("POST", "/tags", h.create_tag),
    _list("/tags/{label}", h.get_tagged_objects),
    _route("DELETE", "/tags/{label}", h.delete_tag),
    _list("/account/events", h.list_events),
    _route("GET", "/account/events/{id}", h.get_event),
]


def match(method: str, path: str) -> tuple[Route | None, dict, bool]:
    """``(route, params, path_known)`` for a request; ``path_known`` tells a 405 from a 404."""
    path_known = False
    for route in ROUTES:
        found = route.regex.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict(), True
        path_known = True
    return None, {}, path_known
