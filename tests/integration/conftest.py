"""A real salt-master per install path of the README, started once per session."""

import shutil

import pytest

from salt_immutable import loader
from tests.support.saltconfig import REPO, readme_master_config
from tests.support.saltdaemons import master_factory


@pytest.fixture(scope="session")
def pip_pillar(tmp_path_factory):
    """The example pillar, copied for the way-1 master."""
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
