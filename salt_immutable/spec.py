"""PURE: the ``immutable`` pillar → a frozen :class:`ImmutableSpec`.

Each setting is declared once, as a dataclass field whose metadata holds its check and its meaning;
parsing walks those fields, so defaults, validation and documentation cannot drift apart. Parsing never
stops at the first problem: :func:`parse` raises one :class:`SpecError` listing every problem of the
pillar, each named by its pillar path (``immutable:fleets:web:rollout:max_surge``).
"""

import dataclasses
import difflib
import ipaddress
import re
from dataclasses import dataclass, field

from salt_immutable import names
from salt_immutable.errors import SpecError

ROOT = "immutable"
# Labels must stay valid for as many generations as a fleet will ever roll through.
MAX_GENERATION = 99999
SLS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
PERCENT = re.compile(r"(\d{1,3})%")
NODEBALANCER_LABEL = re.compile(r"[a-zA-Z0-9_-]{3,32}")
# Cloud Firewall labels: 3-32 characters, starting and ending with a letter or digit (the API's rule).
FIREWALL_LABEL = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,30}[a-zA-Z0-9]")
FIREWALL_PORTS = re.compile(r"\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*")
SECRET_KEYS = ("linode_token", "token", "api_token")
_INVALID = object()


class _Invalid(Exception):
    """A scalar check's verdict; the message says what was expected and what was found."""


# --------------------------------------------------------------------------- scalar checks


def _describe(value):
    kinds = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    if value is None:
        return "nothing (null)"
    return f"{kinds.get(type(value), type(value).__name__)} {value!r}"


def _string(value):
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"expected a non-empty string, got {_describe(value)}")
    return value


def _version(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise _Invalid(
            f'expected a quoted string such as "1.4.2" (YAML reads unquoted {value!r} as a number), '
            f"got {_describe(value)}"
        )
    return _string(value)


def _integer(minimum=None, maximum=None):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected an integer, got {_describe(value)}")
        if minimum is not None and value < minimum:
            raise _Invalid(f"expected an integer >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"expected an integer <= {maximum}, got {value}")
        return value

    return check


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _Invalid(f"expected a number of seconds >= 0, got {_describe(value)}")
    return value


def _batch_numbers(value):
    if not isinstance(value, list) or not all(isinstance(item, int) and not isinstance(item, bool) and item >= 1
                                              for item in value):
        raise _Invalid(f"expected a list of batch numbers >= 1 such as [1], got {_describe(value)}")
    if len(set(value)) != len(value):
        raise _Invalid(f"lists a batch twice: {value!r}")
    return tuple(sorted(value))


def _boolean(value):
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_describe(value)}")
    return value


def _absolute_path(value):
    if not isinstance(value, str) or not value.startswith("/"):
        raise _Invalid(f"expected an absolute path such as /var/lib/app, got {_describe(value)}")
    return value


def _url_path(value):
    if not isinstance(value, str) or not value.startswith("/"):
        raise _Invalid(f"expected a URL path such as /healthz, got {_describe(value)}")
    return value


def _state_names(value):
    if not isinstance(value, list):
        raise _Invalid(f"expected a list of state names such as [webapp], got {_describe(value)}")
    for item in value:
        if not isinstance(item, str) or not SLS_NAME.fullmatch(item):
            raise _Invalid(f"expected state names such as webapp or webapp.config, got {_describe(item)}")
    if len(set(value)) != len(value):
        raise _Invalid(f"lists a state twice: {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class Quantity:
    """A count of servers, absolute (``2``) or relative to the fleet's size (``"25%"``)."""

    value: int
    percent: bool = False

    def __str__(self):
        return f"{self.value}%" if self.percent else str(self.value)

    def is_zero(self):
        """True when this quantity can never allow a server, whatever the fleet's size."""
        return self.value == 0


def _quantity(value):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Quantity(value)
    match = PERCENT.fullmatch(value) if isinstance(value, str) else None
    if match and int(match.group(1)) <= 100:
        return Quantity(int(match.group(1)), percent=True)
    raise _Invalid(f'expected an integer >= 0 or a percentage such as "25%", got {_describe(value)}')


# --------------------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class _ListOf:
    """A setting holding a list of ``item`` sections."""

    item: type


def _setting(check, default=dataclasses.MISSING, doc=""):
    """A pillar setting: its check, its default (none = required) and what it means."""
    metadata = {"check": check, "doc": doc}
    if isinstance(default, type):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise _Invalid(f"expected one of {', '.join(allowed)}, got {_describe(value)}")
        return value

    return check


def _networks(version):
    def check(value):
        if not isinstance(value, list):
            raise _Invalid(f"expected a list of IPv{version} networks such as [{_EXAMPLE_NETWORK[version]}], "
                           f"got {_describe(value)}")
        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=False) if isinstance(item, str) else None
            except ValueError:
                network = None
            if network is None or network.version != version:
                raise _Invalid(f"expected IPv{version} networks such as {_EXAMPLE_NETWORK[version]}, "
                               f"got {_describe(item)}")
        return tuple(value)

    return check


_EXAMPLE_NETWORK = {4: "203.0.113.0/24", 6: "2001:db8::/32"}


def _firewall_ports(value):
    if not isinstance(value, str) or not FIREWALL_PORTS.fullmatch(value) or any(
            not 1 <= int(port) <= 65535 for port in re.split(r"[,-]", value)):
        raise _Invalid(f'expected ports such as "22", "80,443" or "8000-8100" (1-65535), got {_describe(value)}')
    return value


def _firewall_label(value):
    if (not isinstance(value, str) or not FIREWALL_LABEL.fullmatch(value)
            or any(twice in value for twice in ("--", "__", ".."))):
        raise _Invalid("expected a Cloud Firewall label of 3-32 letters, digits, '.', '-' or '_' that starts and "
                       f"ends with a letter or digit, no two '.', '-' or '_' in a row, got {_describe(value)}")
    return value


def _rule_label(value):
    if not isinstance(value, str) or not 3 <= len(value) <= 32:
        raise _Invalid(f"expected a rule label of 3-32 characters, got {_describe(value)}")
    return value


@dataclass(frozen=True)
class FirewallAddresses:
    """The sources (inbound) or destinations (outbound) a firewall rule matches."""

    ipv4: tuple = _setting(_networks(4), (), doc="IPv4 networks, e.g. 203.0.113.0/24")
    ipv6: tuple = _setting(_networks(6), (), doc="IPv6 networks, e.g. 2001:db8::/32")


@dataclass(frozen=True)
class FirewallRule:
    """One Cloud Firewall rule, as the Linode API words it."""

    protocol: str = _setting(_choice("TCP", "UDP", "ICMP", "IPENCAP"), doc="TCP, UDP, ICMP or IPENCAP")
    addresses: FirewallAddresses = _setting(FirewallAddresses, doc="the networks the rule matches")
    ports: "str | None" = _setting(_firewall_ports, None, doc='ports, e.g. "22" or "80,443" (TCP and UDP only)')
    action: str = _setting(_choice("ACCEPT", "DROP"), "ACCEPT", doc="ACCEPT or DROP")
    label: "str | None" = _setting(_rule_label, None, doc="the rule's label")


@dataclass(frozen=True)
class FirewallRules:
    """What a managed firewall holds besides the app port from the NodeBalancer (inbound policy DROP)."""

    inbound: tuple = _setting(_ListOf(FirewallRule), (), doc="inbound rules added to the app port's")
    outbound: tuple = _setting(_ListOf(FirewallRule), (), doc="outbound rules")
    outbound_policy: str = _setting(_choice("ACCEPT", "DROP"), "ACCEPT", doc="what outbound traffic no rule "
                                    "matches meets (servers must still reach the master, ports 4505-4506)")


def _firewall_shorthand(value):
    """``linode:firewall`` may be a firewall's id or label alone: both adopt an existing firewall."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"id": value}
    if isinstance(value, str):
        return {"label": value}
    if isinstance(value, dict):
        return value
    raise _Invalid("expected the id or label of an existing Cloud Firewall, or {label, rules} for a managed one, "
                   f"got {_describe(value)}")


@dataclass(frozen=True)
class FirewallSpec:
    """The Cloud Firewall every builder, candidate and server is created with: adopted by ``id`` or
    ``label``, or managed (``label`` and ``rules``: created and kept to spec by the roll)."""

    shorthand = staticmethod(_firewall_shorthand)

    id: "int | None" = _setting(_integer(1), None, doc="adopt this existing Cloud Firewall")
    label: "str | None" = _setting(_firewall_label, None, doc="the firewall's label (adopted, or managed with rules)")
    rules: "FirewallRules | None" = _setting(
        FirewallRules, None, doc="manage the firewall: its rules besides the app port from the NodeBalancer")

    @property
    def managed(self):
        """True when salt-immutable creates the firewall and keeps its rules (given with rules)."""
        return self.rules is not None

    def describe(self):
        """The firewall as messages name it."""
        return self.label if self.label is not None else f"#{self.id}"


@dataclass(frozen=True)
class LinodeSpec:
    """Where and on what fleet servers run; ``immutable:linode`` sets defaults every fleet can override."""

    region: str = _setting(_string, doc="Linode region of the fleet's servers, e.g. us-east")
    type: str = _setting(_string, "g6-standard-1", doc="Linode plan of the servers")
    base_image: str = _setting(_string, "linode/debian12", doc="image the builder boots to bake from")
    firewall: "FirewallSpec | None" = _setting(
        FirewallSpec, None, doc="Cloud Firewall of builders, candidates and servers: an id or label to adopt, "
        "or {label, rules} to manage")


def _pillar_keys(value):
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip(":") for item in value):
        raise _Invalid(f"expected a list of pillar keys such as [webapp:build_token], got {_describe(value)}")
    return tuple(value)


@dataclass(frozen=True)
class BakeSpec:
    """What is baked into the image, on the builder only."""

    states: tuple = _setting(_state_names, doc="states applied on the builder and captured in the image")
    secrets: tuple = _setting(
        _pillar_keys, (), doc="pillar keys (a:b) of the builder whose values must not be left in the image"
    )


def _patterns(value):
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise _Invalid(f"expected a list of state ids or file path globs such as [/etc/motd], got {_describe(value)}")
    return tuple(value)


@dataclass(frozen=True)
class BootSpec:
    """What each new server applies once at first boot: secrets and per-instance configuration."""

    states: tuple = _setting(_state_names, (), doc="states applied once at first boot")


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP health check against each new server."""

    port: int = _setting(_integer(1, 65535), doc="TCP port the app listens on")
    path: str = _setting(_url_path, "/", doc="path that answers 2xx when healthy")


@dataclass(frozen=True)
class TestsSpec:
    """How an image and a new server are proven."""

    saltcheck: tuple = _setting(_state_names, (), doc="states whose saltcheck tests must pass")
    converge: bool = _setting(_boolean, True, doc="the bake states must report zero changes under test=True")
    http: "HttpCheck | None" = _setting(HttpCheck, None, doc="HTTP health check of each new server")


@dataclass(frozen=True)
class RolloutSpec:
    """How a roll replaces servers (rounding as Kubernetes: surge up, unavailable down)."""

    max_surge: Quantity = _setting(_quantity, Quantity(1), doc="servers above count during a roll")
    max_unavailable: Quantity = _setting(_quantity, Quantity(0), doc="servers below count during a roll")
    warmup: float = _setting(_seconds, 0, doc="seconds a new server must stay healthy before it counts")
    progress_deadline: int = _setting(_integer(1), 900, doc="seconds a batch may take before the roll fails")
    auto_rollback: bool = _setting(_boolean, True, doc="roll back to the last good version on failure")
    checkpoints: tuple = _setting(
        _batch_numbers, (), doc="batches after which a roll waits for salt-run immutable.approve (not rollbacks)"
    )
    checkpoint_timeout: float = _setting(
        _seconds, 1800, doc="seconds a checkpoint waits for approval before the roll fails and rolls back"
    )


def _nodebalancer_label(value):
    if not isinstance(value, str) or not NODEBALANCER_LABEL.fullmatch(value):
        raise _Invalid(f"expected a NodeBalancer label of 3-32 letters, digits, '-' or '_', got {_describe(value)}")
    return value


@dataclass(frozen=True)
class NodeBalancerSpec:
    """The NodeBalancer whose backend nodes follow the fleet: adopted by ``id``, or managed by ``label``."""

    port: int = _setting(_integer(1, 65535), doc="the NodeBalancer config's port")
    id: "int | None" = _setting(_integer(1), None, doc="adopt this existing NodeBalancer (give id or label)")
    label: "str | None" = _setting(
        _nodebalancer_label, None,
        doc="manage a NodeBalancer of this label: created in the fleet's region, with a config on port "
        "whose health check is tests:http (give id or label)",
    )
    drain_seconds: float = _setting(_seconds, 10, doc="seconds an old node drains before it is removed")

    @property
    def managed(self):
        """True when salt-immutable creates the NodeBalancer and its config (given by label)."""
        return self.id is None


@dataclass(frozen=True)
class VolumeSpec:
    """A Block Storage volume per server slot, handed from old to new server on a roll."""

    name: str = _setting(_string, doc="volume name within the fleet")
    size: int = _setting(_integer(10, 10240), doc="size in GB (Linode's minimum is 10)")
    mount: str = _setting(_absolute_path, doc="where the volume is mounted on the server")


@dataclass(frozen=True)
class RetentionSpec:
    """How many images of the fleet are kept for rollbacks."""

    keep: int = _setting(_integer(1), 3, doc="images kept, the running one included")
    prune_after_roll: bool = _setting(_boolean, False, doc="run immutable.prune after each successful roll")


@dataclass(frozen=True)
class DriftSpec:
    """What ``immutable.drift`` leaves out of its report: known noise."""

    ignore: tuple = _setting(_patterns, (), doc="state ids or file paths (fnmatch globs) drift never reports")


@dataclass(frozen=True)
class FleetSpec:
    """One fleet, with ``immutable:linode`` defaults merged in."""

    name: str
    version: str = _setting(_version, doc="the release the fleet must run; bump it to roll")
    count: int = _setting(_integer(0), doc="number of servers")
    linode: LinodeSpec = _setting(LinodeSpec, doc="overrides of immutable:linode")
    bake: BakeSpec = _setting(BakeSpec, doc="what is baked into the image")
    boot: BootSpec = _setting(BootSpec, BootSpec, doc="what runs once at first boot")
    tests: TestsSpec = _setting(TestsSpec, TestsSpec, doc="how images and servers are proven")
    rollout: RolloutSpec = _setting(RolloutSpec, RolloutSpec, doc="how a roll replaces servers")
    nodebalancer: "NodeBalancerSpec | None" = _setting(NodeBalancerSpec, None, doc="NodeBalancer to swap")
    volumes: tuple = _setting(_ListOf(VolumeSpec), (), doc="per-server Block Storage volumes")
    retention: RetentionSpec = _setting(RetentionSpec, RetentionSpec, doc="images kept")
    drift: DriftSpec = _setting(DriftSpec, DriftSpec, doc="how drift is judged")


@dataclass(frozen=True)
class ImmutableSpec:
    """Every fleet of the pillar, by name."""

    fleets: tuple = ()

    def fleet(self, name):
        """Return the fleet called ``name``, or None."""
        return next((fleet for fleet in self.fleets if fleet.name == name), None)

    def to_dict(self):
        """Plain data, as a runner returns it."""
        return {"fleets": {fleet.name: _plain(fleet) for fleet in self.fleets}}


def _plain(spec):
    data = _jsonable(spec)
    data.pop("name", None)
    return data


def _jsonable(value):
    if isinstance(value, Quantity):
        return str(value) if value.percent else value.value
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


# --------------------------------------------------------------------------- parsing


class _Problems:
    """Collects ``(pillar_path, message)`` pairs."""

    def __init__(self):
        self.items = []

    def add(self, path, message):
        self.items.append((path, message))


def _join(path, key):
    return f"{path}:{key}"


def _unknown_key_message(key, known):
    hint = difflib.get_close_matches(str(key), known, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown key{suggestion}; expected one of: {', '.join(sorted(known))}"


def _check_unknown_keys(raw, path, known, problems):
    for key in raw:
        if key not in known:
            problems.add(_join(path, key), _unknown_key_message(key, known))


def _parse_value(check, raw, path, problems):
    """Run a setting's check: a nested section, a list of sections, or a scalar check."""
    if isinstance(check, _ListOf):
        return _parse_list(raw, path, check.item, problems)
    if dataclasses.is_dataclass(check):
        shorthand = getattr(check, "shorthand", None)
        if shorthand is not None:
            try:
                raw = shorthand(raw)
            except _Invalid as err:
                problems.add(path, str(err))
                return _INVALID
        return _parse_section(raw, path, check, problems)
    try:
        return check(raw)
    except _Invalid as err:
        problems.add(path, str(err))
        return _INVALID


def _settings(cls):
    return [f for f in dataclasses.fields(cls) if "check" in f.metadata]


def _default(setting):
    if setting.default is not dataclasses.MISSING:
        return setting.default
    if setting.default_factory is not dataclasses.MISSING:
        return setting.default_factory()
    return dataclasses.MISSING


def _parse_section(raw, path, cls, problems, inherited=None, inherited_from=None, **fixed):
    """Parse the mapping ``raw`` into ``cls``; return _INVALID when any of it is wrong."""
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping, got {_describe(raw)}")
        return _INVALID
    settings = _settings(cls)
    _check_unknown_keys(raw, path, [s.name for s in settings], problems)
    values, ok = dict(fixed), True
    for setting in settings:
        if setting.name in fixed:
            continue
        setting_path = _join(path, setting.name)
        if raw.get(setting.name) is not None:
            value = _parse_value(setting.metadata["check"], raw[setting.name], setting_path, problems)
        elif inherited and setting.name in inherited:
            value = inherited[setting.name]
        else:
            value = _default(setting)
            if value is dataclasses.MISSING:
                also = f" (here or in {inherited_from}:{setting.name})" if inherited_from else ""
                problems.add(setting_path, f"required{also}: {setting.metadata['doc']}")
                value = _INVALID
        values[setting.name] = value
        ok = ok and value is not _INVALID
    if not ok:
        return _INVALID
    section = cls(**values)
    for rule in _SECTION_RULES.get(cls, ()):
        rule(section, path, problems)
    return section


def _parse_list(raw, path, cls, problems):
    if not isinstance(raw, list):
        problems.add(path, f"expected a list of mappings, got {_describe(raw)}")
        return _INVALID
    items = [_parse_section(item, f"{path}:{index}", cls, problems) for index, item in enumerate(raw)]
    return _INVALID if _INVALID in items else tuple(items)


def _parse_linode_defaults(raw, path, problems):
    """Parse ``immutable:linode``: every key optional here, fleets inherit what is set."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping, got {_describe(raw)}")
        return {}
    settings = {s.name: s for s in _settings(LinodeSpec)}
    _check_unknown_keys(raw, path, list(settings), problems)
    parsed = {
        key: _parse_value(settings[key].metadata["check"], value, _join(path, key), problems)
        for key, value in raw.items()
        if key in settings
    }
    return {key: value for key, value in parsed.items() if value is not _INVALID}


def _parse_fleet(name, raw, path, linode_defaults, problems):
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping of fleet settings, got {_describe(raw)}")
        return _INVALID
    linode_raw = raw.get("linode", {})
    linode = _parse_section(
        linode_raw if linode_raw is not None else {},
        _join(path, "linode"),
        LinodeSpec,
        problems,
        inherited=linode_defaults,
        inherited_from=f"{ROOT}:linode",
    )
    rest = {key: value for key, value in raw.items() if key != "linode"}
    fleet = _parse_section(rest, path, FleetSpec, problems, name=name, linode=linode)
    return _INVALID if linode is _INVALID else fleet


# --------------------------------------------------------------------------- cross-field rules


def _fleet_name_problem(name):
    if not isinstance(name, str):
        return f"fleet names must be strings, got {_describe(name)}"
    sample = names.server_label(name, 1, 1)
    problem = names.label_problem(sample) or names.tag_problem(names.fleet_tag(name))
    if problem:
        return f"fleet name {name!r} cannot be used: {problem}"
    return None


def _check_fleet_names(fleet, path, problems):
    """Every label and tag the fleet will use must be valid on Linode."""
    version_path, count = _join(path, "version"), max(fleet.count, 1)
    widest_server = names.server_label(fleet.name, MAX_GENERATION, count)
    checks = [
        (path, names.label_problem(widest_server)),
        (version_path, names.label_problem(names.image_label(fleet.name, fleet.version))),
        (version_path, names.label_problem(names.builder_label(fleet.name, fleet.version))),
        (version_path, names.label_problem(names.candidate_label(fleet.name, fleet.version))),
        (version_path, names.tag_problem(names.version_tag(fleet.version))),
    ]
    for index, volume in enumerate(fleet.volumes):
        label = names.volume_label(fleet.name, volume.name, count)
        checks.append((f"{path}:volumes:{index}:name", names.volume_label_problem(label)))
    for where, problem in checks:
        if problem:
            problems.add(where, f"would give the Linode resource {problem}")


def _check_rollout(rollout, path, problems):
    if rollout.max_surge.is_zero() and rollout.max_unavailable.is_zero():
        message = "max_surge and max_unavailable cannot both be 0: a roll could never replace a server"
        problems.add(path, message)


def _check_volumes(fleet, path, problems):
    volume_names = [volume.name for volume in fleet.volumes]
    for name in sorted({n for n in volume_names if volume_names.count(n) > 1}):
        problems.add(_join(path, "volumes"), f"volume name {name!r} is used more than once")
    mounts = [volume.mount for volume in fleet.volumes]
    for mount in sorted({m for m in mounts if mounts.count(m) > 1}):
        problems.add(_join(path, "volumes"), f"mount point {mount!r} is used more than once")


def _check_nodebalancer(nodebalancer, path, problems):
    if (nodebalancer.id is None) == (nodebalancer.label is None):
        problems.add(path, "give exactly one of id (adopt an existing NodeBalancer) or label (managed)")


def _check_firewall(firewall, path, problems):
    if firewall.managed and (firewall.label is None or firewall.id is not None):
        problems.add(path, "a managed firewall (with rules) is named by label alone: it is created by that label")
    elif not firewall.managed and (firewall.id is None) == (firewall.label is None):
        problems.add(path, "give exactly one of id or label (adopt an existing firewall), or label and rules "
                     "(managed)")


def _check_firewall_rule(rule, path, problems):
    if rule.protocol in ("ICMP", "IPENCAP") and rule.ports is not None:
        problems.add(_join(path, "ports"), f"{rule.protocol} has no ports: leave ports out")
    if not rule.addresses.ipv4 and not rule.addresses.ipv6:
        problems.add(_join(path, "addresses"), "give at least one network in ipv4 or ipv6")


def _check_fleet_nodebalancer(fleet, path, problems):
    if fleet.nodebalancer is not None and fleet.tests.http is None:
        problems.add(
            _join(path, "nodebalancer"),
            "needs tests:http: its port is where the NodeBalancer sends traffic, its path the health check",
        )


# Checks that span several settings of one section; they run once the section itself parsed.
_SECTION_RULES = {
    RolloutSpec: (_check_rollout,),
    NodeBalancerSpec: (_check_nodebalancer,),
    FirewallSpec: (_check_firewall,),
    FirewallRule: (_check_firewall_rule,),
    FleetSpec: (_check_volumes, _check_fleet_names, _check_fleet_nodebalancer),
}


def _check_image_labels_unique(fleets, fleets_path, problems):
    owners = {}
    for fleet in fleets:
        label = names.image_label(fleet.name, fleet.version)
        if label in owners:
            problems.add(
                _join(_join(fleets_path, fleet.name), "version"),
                f"image label {label!r} is also the image label of fleet {owners[label]!r}",
            )
        owners.setdefault(label, fleet.name)


# --------------------------------------------------------------------------- entry point


def parse(pillar):
    """Parse the whole pillar (or its ``immutable`` value) into an :class:`ImmutableSpec`.

    Raises :class:`SpecError` listing every problem found, each with its pillar path.
    """
    problems = _Problems()
    raw = pillar.get(ROOT) if isinstance(pillar, dict) else _INVALID
    if raw is None or raw is _INVALID:
        problems.add(ROOT, "no immutable pillar: target a pillar file with an 'immutable' key at the master")
        raise SpecError(problems.items)
    if not isinstance(raw, dict):
        problems.add(ROOT, f"expected a mapping, got {_describe(raw)}")
        raise SpecError(problems.items)
    for key in raw:
        if key in SECRET_KEYS:
            problems.add(
                _join(ROOT, key),
                "the Linode token must never live in pillar (pillar reaches minions); set "
                "immutable:linode_token in the master config or LINODE_TOKEN in the master's environment",
            )
        elif key not in ("linode", "fleets"):
            problems.add(_join(ROOT, key), _unknown_key_message(key, ["linode", "fleets"]))
    linode_defaults = _parse_linode_defaults(raw.get("linode"), _join(ROOT, "linode"), problems)
    fleets = _parse_fleets(raw.get("fleets", {}), _join(ROOT, "fleets"), linode_defaults, problems)
    if problems.items:
        raise SpecError(problems.items)
    return ImmutableSpec(fleets=fleets)


def _parse_fleets(raw, path, linode_defaults, problems):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping of fleet name to fleet settings, got {_describe(raw)}")
        return ()
    fleets = []
    for name, fleet_raw in raw.items():
        fleet_path = _join(path, name)
        name_problem = _fleet_name_problem(name)
        if name_problem:
            problems.add(fleet_path, name_problem)
            continue
        fleet = _parse_fleet(name, fleet_raw, fleet_path, linode_defaults, problems)
        if fleet is not _INVALID:
            fleets.append(fleet)
    _check_image_labels_unique(fleets, path, problems)
    return tuple(fleets)


def settings_reference():
    """Every fleet setting as ``(pillar_key, default, meaning)``, for documentation."""
    rows = []

    def walk(cls, prefix):
        for setting in _settings(cls):
            check, key = setting.metadata["check"], f"{prefix}{setting.name}"
            if isinstance(check, _ListOf):
                walk(check.item, f"{key}:N:")
                continue
            if dataclasses.is_dataclass(check):
                walk(check, f"{key}:")
                continue
            default = _default(setting)
            shown = "required" if default is dataclasses.MISSING else _jsonable(default)
            rows.append((key, shown, setting.metadata["doc"]))

    walk(FleetSpec, "")
    return rows
