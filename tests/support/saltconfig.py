"""Master configuration as the README tells users to write it, for loader and daemon tests."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MASTER_ID = "immutable_master"


def readme_master_config(file_roots, pillar_roots=(REPO / "pillar",), **immutable):
    """The master settings of the README: file_roots, pillar_roots and the ``immutable:`` block."""
    config = {
        "id": MASTER_ID,
        "file_roots": {"base": [str(path) for path in file_roots]},
        "pillar_roots": {"base": [str(path) for path in pillar_roots]},
    }
    if immutable:
        config["immutable"] = immutable
    return config


def write_pillar(folder, immutable):
    """Write a pillar tree (top.sls targeting the master + immutable.sls) holding ``immutable``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "top.sls").write_text(yaml.safe_dump({"base": {"*_master": ["immutable"]}}))
    (folder / "immutable.sls").write_text(yaml.safe_dump({"immutable": immutable}))
    return folder
