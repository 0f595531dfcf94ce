"""A real salt-master per install path of the README, started once per session."""

import shutil

import pytest

from salt_immutable import loader
from tests.support.saltconfig import REPO, readme_master_config
from tests.support.saltdaemons import master_factory, running_minion


@pytest.fixture(scope="session")
def pip_pillar(tmp_path_factory):
    """The example pillar in a folder tests may rewrite (restored by ``swap_pip_pillar``)."""
    folder = tmp_path_factory.mktemp("pip-pillar")
    shutil.copytree(REPO / "pillar", folder, dirs_exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def pip_master(salt_factories, pip_pillar):
    """README way 1: the package installed (entry point), minions sync from ``salt-immutable file-root``."""
    config = readme_master_config([REPO / "salt", loader.FACES], [pip_pillar])
    factory = master_factory(salt_factories, "pip_master", config)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def pip_minion(pip_master):
    with running_minion(pip_master, "pip-minion") as minion:
        yield minion


@pytest.fixture(scope="session")
def classic_master(salt_factories):
    """README way 2: the repository served by file_roots, the runner synced with saltutil.sync_runners."""
    config = readme_master_config([REPO / "salt", REPO], [REPO / "pillar"])
    factory = master_factory(salt_factories, "classic_master", config)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def classic_minion(classic_master):
    with running_minion(classic_master, "classic-minion") as minion:
        yield minion
