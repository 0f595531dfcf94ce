"""Which images a prune keeps and why: pure, table-driven."""

from datetime import datetime, timedelta, timezone

import pytest

from salt_immutable.retention import Image, by_outcome, choose

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
OURS = ("immutable", "fleet:web")


def image(version, age_days, status="available", tags=OURS, created=True):
    return Image(id=f"private/{version.replace('.', '')}", label=f"web-{version}", version=version, status=status,
                 created=T0 - timedelta(days=age_days) if created else None,
                 tags=(*tags, f"version:{version}"))


def kept_and_deleted(decisions):
    return ([d.image.version for d in decisions if d.keep], [d.image.version for d in decisions if not d.keep])


def test_the_newest_are_kept_up_to_keep_and_the_rest_go():
    images = [image("1.0", 5), image("1.1", 4), image("1.2", 3), image("1.3", 2), image("1.4", 1)]
    decisions = choose(images, "web", 3, pillar_version="1.4")
    assert kept_and_deleted(decisions) == (["1.4", "1.3", "1.2"], ["1.1", "1.0"])
    assert decisions[0].reasons == ["the pillar names version 1.4"]
    assert decisions[1].reasons == ["one of the 3 newest"]
    assert decisions[-1].reasons == ["beyond retention:keep 3, and nothing needs it"]


def test_what_something_needs_is_kept_beyond_keep_and_counts_toward_it():
    images = [image("1.0", 9), image("1.1", 8), image("1.2", 7), image("1.3", 6), image("1.4", 5), image("2.0", 1)]
    decisions = choose(images, "web", 2, pillar_version="2.0", rollback_target="1.0", in_flight={"1.1"},
                       used_by={"private/12": ["web-g3-1", "db-g1-1"]})
    assert kept_and_deleted(decisions) == (["2.0", "1.2", "1.1", "1.0"], ["1.4", "1.3"])
    reasons = {d.image.version: d.reasons for d in decisions}
    assert reasons["1.0"] == ["it is the rollback target"]
    assert reasons["1.1"] == ["an unfinished roll uses it"]
    assert reasons["1.2"] == ["Linodes were created from it: db-g1-1, web-g3-1"]


def test_an_image_still_being_captured_is_never_deleted():
    decisions = choose([image("1.0", 2, status="creating"), image("2.0", 1)], "web", 1, pillar_version="2.0")
    assert kept_and_deleted(decisions) == (["2.0", "1.0"], [])
    assert decisions[1].reasons == ["it is creating, not available"]


@pytest.mark.parametrize("tags", [("fleet:web",), ("immutable",), ("immutable", "fleet:db")])
def test_an_image_without_the_projects_and_the_fleets_tags_is_not_even_considered(tags):
    decisions = choose([image("0.9", 9, tags=tags), image("2.0", 1)], "web", 1, pillar_version="2.0")
    assert [d.image.version for d in decisions] == ["2.0"]


def test_images_without_a_creation_time_count_as_the_oldest():
    decisions = choose([image("0.1", 0, created=False), image("1.0", 3), image("2.0", 1)], "web", 2,
                       pillar_version="2.0")
    assert kept_and_deleted(decisions) == (["2.0", "1.0"], ["0.1"])


def test_keep_must_be_at_least_one():
    with pytest.raises(ValueError, match="keep must be at least 1, not 0"):
        choose([image("1.0", 1)], "web", 0, pillar_version="1.0")


def test_by_outcome_is_plain_data():
    outcome = by_outcome(choose([image("1.0", 2), image("2.0", 1)], "web", 1, pillar_version="2.0"))
    assert outcome["kept"] == [{"id": "private/20", "label": "web-2.0", "version": "2.0",
                                "created": (T0 - timedelta(days=1)).isoformat(),
                                "reasons": ["the pillar names version 2.0"]}]
    assert [entry["label"] for entry in outcome["deleted"]] == ["web-1.0"]
