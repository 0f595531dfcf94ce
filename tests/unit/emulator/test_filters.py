"""X-Filter evaluation (pure): every operator, dotted keys, tags, ordering, and refusals."""

from __future__ import annotations

import json

import pytest
from linode_api4 import Instance
from linode_api4.objects.filtering import limit, order_by

from linode_emu import filters
from linode_emu.errors import EmuApiError

FILTERABLE = frozenset({"id", "label", "region", "tags", "size", "entity.id", "entity.type", "created"})
ITEMS = [
    {"id": 1, "label": "web-1", "region": "us-east", "tags": ["fleet:web", "v:1"], "size": 10,
     "entity": {"id": 7, "type": "linode"}, "created": "2025-01-01T00:00:03", "status": "running"},
    {"id": 2, "label": "web-2", "region": "eu-west", "tags": ["fleet:web"], "size": 30,
     "entity": {"id": 8, "type": "linode"}, "created": "2025-01-01T00:00:01", "status": "offline"},
    {"id": 3, "label": "db-1", "region": "us-east", "tags": [], "size": None,
     "entity": {"id": 7, "type": "volume"}, "created": "2025-01-01T00:00:02", "status": "running"},
]  # fmt: skip


def ids(document, items=ITEMS) -> list[int]:
    header = document if isinstance(document, str) else json.dumps(document)
    return [item["id"] for item in filters.parse(header, FILTERABLE).apply(items)]


def refusal(document) -> EmuApiError:
    with pytest.raises(EmuApiError) as caught:
        ids(document)
    assert caught.value.status == 400
    assert caught.value.field == "X-Filter"
    return caught.value


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, [1, 2, 3]),
        ({"label": "web-2"}, [2]),
        ({"region": "us-east", "label": "db-1"}, [3]),
        ({"entity.id": 7}, [1, 3]),
        ({"entity.id": 7, "entity.type": "linode"}, [1]),
        ({"tags": "fleet:web"}, [1, 2]),
        ({"tags": "v:1"}, [1]),
        ({"+and": [{"region": "us-east"}, {"tags": "fleet:web"}]}, [1]),
        ({"+or": [{"label": "web-2"}, {"label": "db-1"}]}, [2, 3]),
        ({"+or": [{"+and": [{"region": "us-east"}, {"id": {"+gt": 1}}]}, {"label": "web-1"}]}, [1, 3]),
        ({"size": {"+gt": 10}}, [2]),
        ({"size": {"+gte": 10}}, [1, 2]),
        ({"size": {"+lt": 30}}, [1]),
        ({"size": {"+lte": 30}}, [1, 2]),
        ({"size": {"+gt": 5, "+lt": 20}}, [1]),
        ({"created": {"+gte": "2025-01-01T00:00:02"}}, [1, 3]),
        ({"label": {"+contains": "web"}}, [1, 2]),
        ({"tags": {"+contains": "fleet"}}, [1, 2]),
        ({"label": {"+neq": "web-1"}}, [2, 3]),
        ({"tags": {"+neq": "fleet:web"}}, [3]),
        ({"label": {"+or": ["web-1", "db-1"]}}, [1, 3]),
        ({"label": {"+or": ["db-1", {"+contains": "-2"}]}}, [2, 3]),
        ({"+order_by": "created"}, [2, 3, 1]),
        ({"+order_by": "created", "+order": "desc"}, [1, 3, 2]),
        ({"+order_by": "size", "+order": "asc"}, [1, 2, 3]),
        ({"region": "us-east", "+order_by": "label", "+order": "desc"}, [1, 3]),
        ({"+limit": 2}, [1, 2]),
        ({"+and": [{"region": "us-east"}, {"+order_by": "id", "+order": "desc"}]}, [3, 1]),
    ],
)
def test_filter_selects_and_orders(document, expected):
    assert ids(document) == expected


def test_no_header_matches_everything():
    assert filters.parse(None, FILTERABLE).apply(ITEMS) == ITEMS
    assert filters.parse("", FILTERABLE).apply(ITEMS) == ITEMS


def test_filters_built_by_linode_api4_are_understood():
    combined = (Instance.region == "us-east") & (Instance.tags.contains("fleet"))
    assert ids(combined.dct) == [1]
    assert ids(((Instance.label == "web-2") | (Instance.label == "db-1")).dct) == [2, 3]
    assert ids((Instance.id > 1).dct) == [2, 3]
    assert ids((Instance.id != 2).dct) == [1, 3]
    assert ids(order_by(Instance.label, desc=True).dct) == [2, 1, 3]
    assert ids(limit(1).dct) == [1]


def test_non_filterable_key_is_refused_with_linodes_reason():
    assert refusal({"status": "running"}).reason == "Cannot filter on status"
    assert refusal({"+or": [{"label": "x"}, {"status": "running"}]}).reason == "Cannot filter on status"
    assert refusal({"+order_by": "status"}).reason == "Cannot filter on status"


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        "[1, 2]",
        {"+nope": 1},
        {"label": {"+like": "x"}},
        {"label": {"+contains": 3}},
        {"+or": {"label": "x"}},
        {"+order_by": "id", "+order": "sideways"},
        {"+limit": 0},
        {"label": {"+gt": 3}},
    ],
)
def test_malformed_filters_are_refused(document):
    refusal(document)


def test_comparing_a_missing_value_does_not_match():
    assert ids({"size": {"+lt": 100}}) == [1, 2]


def test_lookup_follows_dotted_keys():
    assert filters.lookup({"entity": {"id": 5}}, "entity.id") == 5
    assert filters.lookup({"entity": None}, "entity.id") is None
    assert filters.lookup({}, "entity.id") is None
