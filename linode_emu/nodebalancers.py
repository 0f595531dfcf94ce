"""NodeBalancers, their configs (ports) and nodes (backends). Mixed into the ``Backend`` facade; the data
plane that proxies their traffic is ``linode_emu.balancer``.
"""

from __future__ import annotations

from linode_emu import catalog, validation
from linode_emu.addresses import loopback_address
from linode_emu.errors import FieldProblems, invalid, not_found
from linode_emu.models import (
    NODEBALANCER_CONFIG_DEFAULTS,
    NodeBalancer,
    NodeBalancerConfig,
    NodeBalancerNode,
    to_state,
)
from linode_emu.verbs import reads as _reads
from linode_emu.verbs import writes as _writes

# What ``type`` a NodeBalancer may be (today's API; ``premium`` has dedicated resources).
NODEBALANCER_TYPES = ("common", "premium")
NODEBALANCER_SETTINGS = ("client_conn_throttle", "client_udp_sess_throttle", "type", "backend_connectivity")


class NodeBalancerFamily:
    """NodeBalancers with their configs and nodes."""


    @_writes
    def create_nodebalancer(
        self,
        *,
        region: str | None,
        label: str | None = None,
        tags: list[str] | None = None,
        firewall_id: int | None = None,
        **settings,
    ) -> dict:
        """Create a NodeBalancer; ``settings`` are among NODEBALANCER_SETTINGS (the rest take defaults).
        A bad request names every invalid field at once."""
        self._advance()
        problems = FieldProblems()
        problems.value(self._check_region, region)
        if label is not None:
            problems.value(validation.check_nodebalancer_label, label)
        self._check_nodebalancer_settings(problems, settings)
        problems.raise_any()
        firewall = self._firewall_to_assign(firewall_id, "nodebalancer")
        tags = self._use_tags(tags or [])
        nodebalancer_id = self._next_id("nodebalancer")
        now = self._stamp()
        nodebalancer = NodeBalancer(
            id=nodebalancer_id,
            label=label if label is not None else f"nodebalancer{nodebalancer_id}",
            region=region,
            ipv4=loopback_address(self._next_id("address")),
            created=now,
            updated=now,
            tags=tags,
            **{name: value for name, value in settings.items() if value is not None},
        )
        self._nodebalancers[nodebalancer.id] = nodebalancer
        self._notify("nodebalancer_create", nodebalancer.ref())
        self._assign_at_create(firewall, nodebalancer)
        return nodebalancer.to_json()

    @_reads
    def list_nodebalancer_types(self) -> list[dict]:
        return [dict(nodebalancer_type) for nodebalancer_type in catalog.NODEBALANCER_TYPES]

    @staticmethod
    def _check_nodebalancer_settings(problems: FieldProblems, settings: dict) -> None:
        """Check each of the NODEBALANCER_SETTINGS given to a create or an update (None: not given)."""
        for name in ("client_conn_throttle", "client_udp_sess_throttle"):
            if settings.get(name) is not None:
                problems.value(validation.check_range, name, settings[name], 0, 20)
        for name, choices in (("type", NODEBALANCER_TYPES), ("backend_connectivity", ("ipv4", "ipv6"))):
            if settings.get(name) is not None:
                problems.value(validation.check_choice, name, settings[name], choices)

    @_reads
    def list_nodebalancers(self) -> list[dict]:
        self._advance()
        return [nodebalancer.to_json() for nodebalancer in self._nodebalancers.values()]

    @_reads
    def get_nodebalancer(self, nodebalancer_id: int) -> dict:
        self._advance()
        return self._nodebalancer(nodebalancer_id).to_json()

    @_writes
    def update_nodebalancer(self, nodebalancer_id: int, changes: dict) -> dict:
        """Change ``label``, ``tags``, ``client_conn_throttle`` and/or ``client_udp_sess_throttle``."""
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        problems = FieldProblems()
        if "label" in changes:
            problems.value(validation.check_nodebalancer_label, changes["label"])
        self._check_nodebalancer_settings(problems, changes)
        problems.raise_any()
        self._apply_changes(
            nodebalancer, changes, ("label", "tags", "client_conn_throttle", "client_udp_sess_throttle")
        )
        self._notify("nodebalancer_update", nodebalancer.ref())
        return nodebalancer.to_json()

    @_writes
    def delete_nodebalancer(self, nodebalancer_id: int) -> None:
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        self._forget_devices("nodebalancer", nodebalancer_id)
        del self._nodebalancers[nodebalancer_id]
        self._nodebalancer_configs = {
            key: cfg
            for key, cfg in self._nodebalancer_configs.items()
            if cfg.nodebalancer_id != nodebalancer_id
        }
        self._nodebalancer_nodes = {
            key: node
            for key, node in self._nodebalancer_nodes.items()
            if node.nodebalancer_id != nodebalancer_id
        }
        self._notify("nodebalancer_delete", nodebalancer.ref())

    @_writes
    def create_nodebalancer_config(self, nodebalancer_id: int, settings: dict) -> dict:
        """Add a port; ``settings`` are NODEBALANCER_CONFIG_DEFAULTS keys (the rest take defaults)."""
        self._advance()
        nodebalancer = self._nodebalancer(nodebalancer_id)
        merged = {**NODEBALANCER_CONFIG_DEFAULTS, **settings}
        self._check_config_settings(nodebalancer_id, merged, None)
        config = NodeBalancerConfig(
            id=self._next_id("nodebalancer_config"), nodebalancer_id=nodebalancer_id, settings=merged
        )
        self._nodebalancer_configs[config.id] = config
        self._notify("nodebalancer_config_create", nodebalancer.ref())
        return config.to_json([])

    @_reads
    def list_nodebalancer_configs(self, nodebalancer_id: int) -> list[dict]:
        self._advance()
        self._nodebalancer(nodebalancer_id)
        return [
            config.to_json(self._nodes_of(config.id))
            for config in self._nodebalancer_configs.values()
            if config.nodebalancer_id == nodebalancer_id
        ]

    @_reads
    def get_nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> dict:
        self._advance()
        config = self._nodebalancer_config(nodebalancer_id, config_id)
        return config.to_json(self._nodes_of(config_id))

    @_writes
    def update_nodebalancer_config(self, nodebalancer_id: int, config_id: int, settings: dict) -> dict:
        self._advance()
        config = self._nodebalancer_config(nodebalancer_id, config_id)
        merged = {**NODEBALANCER_CONFIG_DEFAULTS, **config.settings, **settings}
        self._check_config_settings(nodebalancer_id, merged, config_id)
        config.settings = merged
        self._notify("nodebalancer_config_update", self._nodebalancers[nodebalancer_id].ref())
        return config.to_json(self._nodes_of(config_id))

    @_writes
    def delete_nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> None:
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        del self._nodebalancer_configs[config_id]
        self._nodebalancer_nodes = {
            key: node for key, node in self._nodebalancer_nodes.items() if node.config_id != config_id
        }
        self._notify("nodebalancer_config_delete", self._nodebalancers[nodebalancer_id].ref())

    @_writes
    def create_nodebalancer_node(
        self,
        nodebalancer_id: int,
        config_id: int,
        *,
        label: str | None,
        address: str | None,
        weight: int = 100,
        mode: str = "accept",
    ) -> dict:
        """Add a backend ``<private ip>:<port>`` to a NodeBalancer config."""
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        if label is None:
            raise invalid("label", "label is required")
        if address is None:
            raise invalid("address", "address is required")
        node = NodeBalancerNode(
            id=self._next_id("nodebalancer_node"),
            config_id=config_id,
            nodebalancer_id=nodebalancer_id,
            label=label,
            address=address,
            weight=weight,
            mode=mode,
        )
        self._check_node(node)
        self._nodebalancer_nodes[node.id] = node
        self._notify("nodebalancer_node_create", self._nodebalancers[nodebalancer_id].ref(), node.ref())
        return node.to_json()

    @_reads
    def list_nodebalancer_nodes(self, nodebalancer_id: int, config_id: int) -> list[dict]:
        self._advance()
        self._nodebalancer_config(nodebalancer_id, config_id)
        return [node.to_json() for node in self._nodes_of(config_id)]

    @_reads
    def get_nodebalancer_node(self, nodebalancer_id: int, config_id: int, node_id: int) -> dict:
        self._advance()
        return self._node(nodebalancer_id, config_id, node_id).to_json()

    @_writes
    def update_nodebalancer_node(
        self, nodebalancer_id: int, config_id: int, node_id: int, changes: dict
    ) -> dict:
        """Change ``label``, ``address``, ``weight`` and/or ``mode`` (accept|reject|drain|backup)."""
        self._advance()
        node = self._node(nodebalancer_id, config_id, node_id)
        updated = NodeBalancerNode(**{**to_state(node), **changes})
        self._check_node(updated)
        self._nodebalancer_nodes[node_id] = updated
        self._notify("nodebalancer_node_update", self._nodebalancers[nodebalancer_id].ref(), updated.ref())
        return updated.to_json()

    @_writes
    def delete_nodebalancer_node(self, nodebalancer_id: int, config_id: int, node_id: int) -> None:
        self._advance()
        node = self._node(nodebalancer_id, config_id, node_id)
        del self._nodebalancer_nodes[node_id]
        self._notify("nodebalancer_node_delete", self._nodebalancers[nodebalancer_id].ref(), node.ref())

    def _nodebalancer(self, nodebalancer_id: int) -> NodeBalancer:
        nodebalancer = self._nodebalancers.get(nodebalancer_id)
        if nodebalancer is None:
            raise not_found()
        return nodebalancer

    def _nodebalancer_config(self, nodebalancer_id: int, config_id: int) -> NodeBalancerConfig:
        self._nodebalancer(nodebalancer_id)
        config = self._nodebalancer_configs.get(config_id)
        if config is None or config.nodebalancer_id != nodebalancer_id:
            raise not_found()
        return config

    def _node(self, nodebalancer_id: int, config_id: int, node_id: int) -> NodeBalancerNode:
        self._nodebalancer_config(nodebalancer_id, config_id)
        node = self._nodebalancer_nodes.get(node_id)
        if node is None or node.config_id != config_id:
            raise not_found()
        return node

    def _nodes_of(self, config_id: int) -> list[NodeBalancerNode]:
        return [node for node in self._nodebalancer_nodes.values() if node.config_id == config_id]

    def _check_config_settings(self, nodebalancer_id: int, settings: dict, config_id: int | None) -> None:
        validation.check_range("port", settings["port"], 1, 65535)
        for name, choices in (
            ("protocol", ("http", "https", "tcp", "udp")),
            ("algorithm", ("roundrobin", "leastconn", "source", "ring_hash")),
            ("stickiness", ("none", "table", "http_cookie", "session", "source_ip")),
            ("check", ("none", "connection", "http", "http_body")),
            ("proxy_protocol", ("none", "v1", "v2")),
            ("cipher_suite", ("recommended", "legacy")),
        ):
            validation.check_choice(name, settings[name], choices)
        validation.check_range("check_timeout", settings["check_timeout"], 1, 30)
        validation.check_range("check_attempts", settings["check_attempts"], 1, 30)
        validation.check_range("check_interval", settings["check_interval"], 2, 3600)
        validation.check_range("udp_check_port", settings["udp_check_port"], 1, 65535)
        if settings["check"] in ("http", "http_body") and not settings["check_path"]:
            raise invalid("check_path", "check_path is required for http checks")
        for other in self._nodebalancer_configs.values():
            same_port = other.settings["port"] == settings["port"]
            if other.nodebalancer_id == nodebalancer_id and other.id != config_id and same_port:
                raise invalid("port", "Port is already in use by another config of this NodeBalancer")

    @staticmethod
    def _check_node(node: NodeBalancerNode) -> None:
        validation.check_node_label(node.label)
        validation.check_node_address(node.address)
        validation.check_range("weight", node.weight, 1, 255)
        validation.check_choice("mode", node.mode, ("accept", "reject", "drain", "backup"))

    def _delete_nodes_at(self, addresses: list[str]) -> None:
        """Delete the NodeBalancer nodes whose address is one of these IPs (any port)."""
        for node in list(self._nodebalancer_nodes.values()):
            if node.address.rpartition(":")[0] in addresses:
                del self._nodebalancer_nodes[node.id]
                nodebalancer = self._nodebalancers[node.nodebalancer_id]
                self._notify("nodebalancer_node_delete", nodebalancer.ref(), node.ref())

