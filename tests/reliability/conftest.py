"""Fixtures of the reliability suite: a :class:`~tests.reliability.harness.World` on the emulator fixture,
an app answering on the Linodes' addresses, the emulator's NodeBalancer data plane."""

import pytest

from tests.reliability.harness import AppListeners, DataPlane, World


@pytest.fixture
def world(emulator, tmp_path):
    """The roll's surroundings on the ``emulator`` fixture (``--machines none``, time scale 0.01)."""
    return World(emulator.api_url, tmp_path)


@pytest.fixture
def app():
    """An HTTP app answering 200 on the Linodes' loopback addresses (see AppListeners)."""
    with AppListeners() as listeners:
        yield listeners


@pytest.fixture
def data_plane(emulator):
    """The emulator's NodeBalancer listeners and health checks, running."""
    with DataPlane(emulator) as plane:
        yield plane
