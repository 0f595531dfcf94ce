"""What is still mounted, seen from every mount namespace on the host (not only the host's own)."""

import os
from pathlib import Path


def mounts_anywhere(folder):
    """The mounts naming ``folder`` in each mount namespace: {pid of a process in it: [mountinfo lines]}.

    An emulated machine's mounts live in its own namespace, so the host's ``/proc/mounts`` never shows
    them; a leaked one stays visible here while any process keeps its namespace alive."""
    found, seen = {}, set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            namespace = os.readlink(proc / "ns" / "mnt")
            if namespace in seen:
                continue
            lines = (proc / "mountinfo").read_text().splitlines()
        except OSError:  # the process ended meanwhile
            continue
        seen.add(namespace)
        named = [line for line in lines if str(folder) in line]
        if named:
            found[int(proc.name)] = named
    return found
