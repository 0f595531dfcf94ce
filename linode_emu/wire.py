"""The wire layer shared by the handlers: one request as they see it (``ApiRequest``), typed access to a
JSON body (``Body``), the listing of a collection (X-Filter, ordering, pagination) and what each
collection accepts in X-Filter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from linode_emu import filters, pagination
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

# Where image files are uploaded (``PUT <prefix>/<image id>/<signature>``), beside the API: like Linode's
# pre-signed upload URLs, they need no token.
UPLOAD_PREFIX = "/_uploads/images"


@dataclass
class ApiRequest:
    """One API request as the handlers see it (``path`` is after ``/v4``, percent-decoded)."""

    method: str
    path: str
    params: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    body: bytes = b""
    filter_header: str | None = None
    host: str | None = None  # the Host header: where the client reaches the emulator

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

    def array(self, name: str):
        return self._get(name, None, lambda value: isinstance(value, list), "a list")

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


def listing(request: ApiRequest, items: list[dict], filterable: frozenset[str]) -> dict:
    """Filter, order and page ``items`` as the request asks."""
    page, page_size = pagination.page_params(request.query)
    query = filters.parse(request.filter_header, filterable)
    return pagination.envelope(query.apply(items), page, page_size)


def done(_result=None) -> dict:
    """The answer of an action endpoint: 200 ``{}`` (a 204 would crash linode_api4)."""
    return {}

