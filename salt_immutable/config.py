"""PURE: the master's ``immutable:`` configuration (never pillar: pillar reaches minions)."""

from dataclasses import dataclass, field

from salt_immutable.errors import ConfigError

DEFAULT_API_URL = "https://api.linode.com/v4"
KNOWN_KEYS = ("linode_token", "api_url", "pillar_id", "master_address")


@dataclass(frozen=True)
class MasterSettings:
    """What the master config says about Linode and where the fleet pillar comes from."""

    api_url: str = DEFAULT_API_URL
    pillar_id: str = ""
    master_address: str = ""
    # Kept out of repr so that the token never lands in a log line or a return by accident.
    linode_token: str = field(default="", repr=False)


def master_settings(opts):
    """Read ``immutable:`` from the master ``opts``; the pillar id defaults to the master's own id."""
    raw = opts.get("immutable") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"master config immutable: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"master config immutable: unknown key(s) {', '.join(unknown)}; expected: {', '.join(KNOWN_KEYS)}"
        )
    for key in KNOWN_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"master config immutable:{key}: expected a string")
    return MasterSettings(
        api_url=raw.get("api_url") or DEFAULT_API_URL,
        pillar_id=raw.get("pillar_id") or opts.get("id", ""),
        master_address=raw.get("master_address", ""),
        linode_token=raw.get("linode_token", ""),
    )
