"""salt-immutable: immutable infrastructure for SaltStack on Linode."""

__version__ = "0.1.0"
