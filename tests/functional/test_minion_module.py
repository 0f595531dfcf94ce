"""The minion module, loaded by Salt's minion loader from ``_modules/`` as a synced minion has it."""

import json

import pytest
from salt.exceptions import CommandExecutionError

from tests.functional.test_manual import FACES

PROVENANCE = {"fleet": "web", "version": "1.0.0", "base_image": "linode/debian12"}


def test_release_returns_the_baked_provenance(tmp_path, minion_mods):
    path = tmp_path / "immutable-release"
    path.write_text(json.dumps(PROVENANCE))
    assert minion_mods["immutable.release"](path=str(path)) == PROVENANCE


def test_release_on_a_server_not_booted_from_an_image_says_so(tmp_path, minion_mods):
    with pytest.raises(CommandExecutionError, match="was not booted from a salt-immutable image"):
        minion_mods["immutable.release"](path=str(tmp_path / "absent"))


def test_release_with_a_garbled_file_names_it(tmp_path, minion_mods):
    path = tmp_path / "immutable-release"
    path.write_text("{not json")
    with pytest.raises(CommandExecutionError, match=f"cannot read {path}"):
        minion_mods["immutable.release"](path=str(path))


def test_every_public_module_function_has_a_cli_example(minion_mods):
    functions = {name: f for name, f in minion_mods.items() if name.startswith("immutable.")}
    declared = sorted(face.salt_name for face in FACES if face.folder == "_modules")  # read from the source
    assert sorted(functions) == declared, "Salt loads every function"
    for name, func in functions.items():
        assert "CLI Example:" in (func.__doc__ or ""), name
