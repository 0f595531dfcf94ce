"""Salt loaders, no daemons: the faces loaded exactly as a master or minion loads them."""

import pytest
import salt.config
import salt.loader
import yaml

from tests.support.saltconfig import REPO, readme_master_config


@pytest.fixture
def master_opts(tmp_path):
    """Master opts built from a config file, the README's way (the runner comes from the entry point)."""

    def build(pillar_roots=(REPO / "pillar",), **immutable):
        config = readme_master_config([REPO / "salt"], pillar_roots, **immutable)
        config["root_dir"] = str(tmp_path / "root")
        path = tmp_path / "master"
        path.write_text(yaml.safe_dump(config))
        return salt.config.master_config(str(path))

    return build


@pytest.fixture
def runner_loader():
    """Load the runners for given opts, with a context dict the test can read afterwards."""

    def load(opts):
        context = {}
        return salt.loader.runner(opts, context=context), context

    return load


@pytest.fixture
def minion_mods(tmp_path):
    """The minion modules as a minion sees them after ``saltutil.sync_modules`` (from ``_modules/``)."""
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "file_client": "local",
            "root_dir": str(tmp_path),
            "cachedir": str(tmp_path / "cache"),
            "module_dirs": [str(REPO / "_modules")],
        }
    )
    return salt.loader.minion_mods(opts)
