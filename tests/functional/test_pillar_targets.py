"""The example top file keeps bake-time and boot-time pillar apart by minion id, whatever the grains say.

The pillar is compiled exactly as the master compiles it for a minion: for the id bound to the minion's
key, with the grains the minion reports (which code on the minion can rewrite at will).
"""

import pytest
import salt.config
import salt.pillar
import yaml

from tests.support.saltconfig import REPO, readme_master_config


@pytest.fixture(scope="module")
def compile_for(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pillar-master")
    config = {**readme_master_config([REPO / "salt"]), "root_dir": str(folder)}
    (folder / "master").write_text(yaml.safe_dump(config))
    opts = salt.config.master_config(str(folder / "master"))

    def compile_pillar(minion_id, **immutable_grains):
        grains = {"id": minion_id, "immutable": immutable_grains}
        pillar = salt.pillar.get_pillar(opts, grains, minion_id).compile_pillar()
        assert not pillar.get("_errors"), pillar["_errors"]
        return pillar

    return compile_pillar


@pytest.mark.parametrize("role", ["server", "candidate", "builder"])
def test_a_builder_gets_bake_pillar_and_never_boot_secrets_whatever_its_role_grain(compile_for, role):
    pillar = compile_for("web-1.0.0-build", fleet="web", version="1.0.0", role=role)
    assert pillar["webapp"] == {"build_token": "example-build-token-not-a-real-secret"}


@pytest.mark.parametrize("minion_id", ["web-1.0.0-proof", "web-g7-3"])
def test_machines_booted_from_the_image_get_boot_secrets_and_no_bake_pillar(compile_for, minion_id):
    pillar = compile_for(minion_id, fleet="web", version="1.0.0", role="builder")
    assert pillar["webapp"] == {"api_key": "example-api-key-not-a-real-secret"}


@pytest.mark.parametrize(
    ("minion_id", "fleet"),
    [
        ("web-1.0.0-builder", "web"),  # not a builder id: the pattern is matched in full
        ("web-g7-3x", "web"),
        ("webx-1.0.0-proof", "web"),  # another fleet's machine claiming to be of web
        ("web-api-1.0-proof", "web-api"),  # fleet web-api's candidate: its id fits web's pattern, its fleet does not
        ("db-g1-1", "web"),
    ],
)
def test_other_minions_get_no_fleet_pillar(compile_for, minion_id, fleet):
    assert "webapp" not in compile_for(minion_id, fleet=fleet, role="server")


def test_only_the_master_gets_the_fleet_spec(compile_for):
    assert "immutable" in compile_for("lab_master")
    assert "immutable" not in compile_for("web-g1-1", fleet="web", role="server")
