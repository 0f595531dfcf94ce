"""The mask layer: what of the host root a machine must not see.

A machine's root is an overlay whose lowest layer is the host root (the base image). The mask layer lies
between it and the Linode's disk, built afresh at every boot by the machine's PID 1 (in a tmpfs of its
own mount namespace). In it, a hidden host folder is an opaque folder (the machine sees it empty) and a
hidden host file a whiteout (the machine sees nothing there). A hidden folder that holds a path machines
need, such as the Python environment their salt-minion runs from, is kept instead, with a whiteout for
every sibling on the way down to that path. What a machine writes still goes to its disk, above: its
/root and /tmp are its own, empty at first, and captured into its images.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OPAQUE_XATTR = "trusted.overlay.opaque"


def build(layer, hidden, visible):
    """Fill the empty folder ``layer`` so that the ``hidden`` host paths vanish, except the ``visible``
    paths under them. The more specific path wins: a visible folder inside a hidden one shows, and a
    hidden one inside that is hidden again; a path both hidden and visible is hidden. Host paths that
    do not exist are skipped.
    """
    layer = Path(layer)
    visible = [Path(path) for path in visible]
    for path in sorted({Path(path) for path in hidden}, key=lambda path: len(path.parts)):
        if os.path.lexists(path) and not _hidden_already(layer, path):
            _hide(layer, path, [inner for inner in visible if path in inner.parents])


def _hide(layer, path, visible):
    """Hide host ``path`` in ``layer`` except the ``visible`` paths under it."""
    entry = _entry(layer, path)
    _copy_parents(layer, path)
    if not visible:
        if path.is_dir() and not path.is_symlink():
            _copy_folder(entry, path)
            os.setxattr(entry, OPAQUE_XATTR, b"y")
        else:
            _whiteout(entry)
        return
    _copy_folder(entry, path)
    for name in os.listdir(path):
        child = path / name
        inside = [inner for inner in visible if inner == child or child in inner.parents]
        if not inside:
            _whiteout(entry / name)
        elif child not in inside:
            _hide(layer, child, inside)


def _hidden_already(layer, path):
    """Whether ``path`` lies in (or is) a folder or file already hidden in ``layer``."""
    for ancestor in [*reversed(path.parents[:-1]), path]:
        entry = _entry(layer, ancestor)
        if not os.path.lexists(entry):
            return False
        if stat.S_ISCHR(os.lstat(entry).st_mode) or _is_opaque(entry):
            return True
    return False


def _is_opaque(entry):
    try:
        return os.getxattr(entry, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _entry(layer, path):
    return layer / path.relative_to("/")


def _copy_parents(layer, path):
    """The folders leading to ``path`` in ``layer``, with the host folders' modes and owners: a folder
    of the top lower layer lends the merged folder its attributes."""
    for ancestor in reversed(path.parents[:-1]):
        entry = _entry(layer, ancestor)
        if not entry.exists():
            _copy_folder(entry, ancestor)


def _copy_folder(entry, host_folder):
    entry.mkdir(exist_ok=True)
    status = os.stat(host_folder)
    os.chown(entry, status.st_uid, status.st_gid)
    os.chmod(entry, stat.S_IMODE(status.st_mode))


def _whiteout(entry):
    """An overlay whiteout: a character device 0:0."""
    os.mknod(entry, stat.S_IFCHR, os.makedev(0, 0))
