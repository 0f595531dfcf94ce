"""PURE: the master's ``immutable:`` configuration (never pillar: pillar reaches minions)."""

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from salt_immutable.errors import ConfigError

DEFAULT_API_URL = "https://api.linode.com/v4"
KNOWN_KEYS = ("linode_token", "api_url", "pillar_id", "master_address", "poll_interval")
STRING_KEYS = ("linode_token", "api_url", "pillar_id", "master_address")
DEFAULT_POLL_INTERVAL = 5.0


@dataclass(frozen=True)
class MasterSettings:
    """What the master config says about Linode and where the fleet pillar comes from."""

    api_url: str = DEFAULT_API_URL
    pillar_id: str = ""
    master_address: str = ""
    poll_interval: float = DEFAULT_POLL_INTERVAL
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
    for key in STRING_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"master config immutable:{key}: expected a string")
    poll = raw.get("poll_interval", DEFAULT_POLL_INTERVAL)
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll <= 0:
        raise ConfigError(f"master config immutable:poll_interval: expected a number of seconds > 0, got {poll!r}")
    return MasterSettings(
        api_url=_api_url(raw.get("api_url") or DEFAULT_API_URL),
        pillar_id=raw.get("pillar_id") or opts.get("id", ""),
        master_address=raw.get("master_address", ""),
        poll_interval=float(poll),
        linode_token=raw.get("linode_token", ""),
    )


def _api_url(url):
    """``url`` when the token may be sent there: over HTTPS, or over plain HTTP to this machine only."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url
    raise ConfigError(
        f"master config immutable:api_url {url!r}: the token would travel in clear text; use https://, "
        "or http:// to a loopback address (127.0.0.0/8, ::1, localhost) such as the emulator"
    )


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
