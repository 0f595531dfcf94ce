"""Names are matched in full: a trailing newline or a longer name is never taken for a valid one."""

import pytest

from salt_immutable import names, seed


@pytest.mark.parametrize("label", ["web-1.0.0\n", "web\n", "web-1.0.0\nx"])
def test_a_label_with_a_trailing_newline_is_refused(label):
    assert names.label_problem(label) is not None
    assert names.volume_label_problem(label) is not None


@pytest.mark.parametrize("tag", ["version:1.0\n", " fleet:web", "fleet:web\t"])
def test_a_tag_with_control_characters_or_outer_space_is_refused(tag):
    assert "printable" in names.tag_problem(tag)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("web-g1-1", True), ("web-g12-30", True), ("web-g1-1\n", False), ("web-g1-1x", False), ("webx-g1-1", False),
     ("web-g-1", False)],
)
def test_server_labels_are_matched_in_full(label, expected):
    assert names.is_server_label("web", label) is expected


@pytest.mark.parametrize(
    ("label", "version"),
    [("web-1.0.0-build", "1.0.0"), ("web-1.0.0-proof", "1.0.0"), ("web-2.0-rc1-build", "2.0-rc1"),
     ("web-1.0.0-build\n", None), ("web-1.0.0-builder", None), ("webx-1.0.0-build", None), ("web--build", None)],
)
def test_bake_machine_labels_give_their_version_only_when_spelled_in_full(label, version):
    assert names.bake_machine_version("web", label) == version


def test_the_seed_pins_the_masters_key_fingerprint_when_known():
    keys = {"pub": "PUB", "priv": "PRIV", "master_finger": "ab:cd"}
    assert '"master_finger": "ab:cd"' in seed.minion_cloud_config("web-g1-1", "127.0.0.1", 4506, keys)
    assert "master_finger" not in seed.minion_cloud_config("web-g1-1", "127.0.0.1", 4506, {"pub": "P", "priv": "K"})
