"""A local, faithful stand-in for the Linode API v4.

Run it with ``python -m linode_emu`` or in-process with
:class:`linode_emu.server.EmulatorServer`. See ARCHITECTURE §7.
"""

from linode_emu.server import EmulatorServer

__all__ = ["EmulatorServer"]
