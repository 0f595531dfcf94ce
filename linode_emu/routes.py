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
    _list(_INSTANCE + "/disks", h.list_disks),
    _route("GET", _INSTANCE + "/disks/{disk_id}", h.get_disk),
    _list(_INSTANCE + "/configs", h.list_configs),
    _route("GET", _INSTANCE + "/configs/{config_id}", h.get_config),
    _list(_INSTANCE + "/volumes", h.list_instance_volumes),
    _list(_INSTANCE + "/firewalls", h.list_instance_firewalls),
    _list("/images", h.list_images, "image_list"),
    _route("POST", "/images", h.create_image),
    _route("GET", "/images/{id}", h.get_image, id_regex=_IMAGE_ID),
    _route("PUT", "/images/{id}", h.update_image, id_regex=_IMAGE_ID),
    _route("DELETE", "/images/{id}", h.delete_image, id_regex=_IMAGE_ID),
    _list("/volumes", h.list_volumes),
    _route("POST", "/volumes", h.create_volume, "volume_create"),
    _route("GET", "/volumes/{id}", h.get_volume),
    _route("PUT", "/volumes/{id}", h.update_volume),
    _route("DELETE", "/volumes/{id}", h.delete_volume),
    _route("POST", "/volumes/{id}/attach", h.attach_volume),
    _route("POST", "/volumes/{id}/detach", h.detach_volume),
    _list("/nodebalancers", h.list_nodebalancers),
    _route("POST", "/nodebalancers", h.create_nodebalancer),
    _route("GET", "/nodebalancers/{id}", h.get_nodebalancer),
    _route("PUT", "/nodebalancers/{id}", h.update_nodebalancer),
    _route("DELETE", "/nodebalancers/{id}", h.delete_nodebalancer),
    _list("/nodebalancers/{id}/configs", h.list_nodebalancer_configs),
    _route("POST", "/nodebalancers/{id}/configs", h.create_nodebalancer_config),
    _route("GET", _NODEBALANCER_CONFIG, h.get_nodebalancer_config),
    _route("PUT", _NODEBALANCER_CONFIG, h.update_nodebalancer_config),
    _route("DELETE", _NODEBALANCER_CONFIG, h.delete_nodebalancer_config),
    _list(_NODEBALANCER_CONFIG + "/nodes", h.list_nodebalancer_nodes),
    _route("POST", _NODEBALANCER_CONFIG + "/nodes", h.create_nodebalancer_node),
    _route("GET", _NODEBALANCER_CONFIG + "/nodes/{node_id}", h.get_nodebalancer_node),
    _route("PUT", _NODEBALANCER_CONFIG + "/nodes/{node_id}", h.update_nodebalancer_node),
    _route("DELETE", _NODEBALANCER_CONFIG + "/nodes/{node_id}", h.delete_nodebalancer_node),
    _list("/nodebalancers/{id}/firewalls", h.list_nodebalancer_firewalls),
    _list("/networking/firewalls", h.list_firewalls),
    _route("POST", "/networking/firewalls", h.create_firewall),
    _route("GET", _FIREWALL, h.get_firewall),
    _route("PUT", _FIREWALL, h.update_firewall),
    _route("DELETE", _FIREWALL, h.delete_firewall),
    _route("GET", _FIREWALL + "/rules", h.get_firewall_rules),
    _route("PUT", _FIREWALL + "/rules", h.update_firewall_rules),
    _list(_FIREWALL + "/devices", h.list_firewall_devices),
    _route("POST", _FIREWALL + "/devices", h.create_firewall_device),
    _route("GET", _FIREWALL + "/devices/{device_id}", h.get_firewall_device),
    _route("DELETE", _FIREWALL + "/devices/{device_id}", h.delete_firewall_device),
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
