"""How a verb of the emulated account runs: under the account's one lock, saving what it changed.

Shared by the ``Backend`` facade and the resource families it is made of (``linode_emu.firewalls``):
a host object provides ``_lock`` (an ``RLock``), a ``_dirty`` flag and ``_save_if_dirty()``.
"""

from __future__ import annotations

import functools


def reads(method):
    """A verb that only reads: runs under the lock; saves if progressing jobs changed the state."""

    @functools.wraps(method)
    def verb(self, *args, **kwargs):
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            finally:
                self._save_if_dirty()

    return verb


def writes(method):
    """A verb that changes the state: runs under the lock and saves (also after a refusal, which may
    follow a progressed job)."""

    @functools.wraps(method)
    def verb(self, *args, **kwargs):
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            finally:
                self._dirty = True
                self._save_if_dirty()

    return verb
