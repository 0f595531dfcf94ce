"""Pagination math (pure): full pages, stable counts, parameter bounds."""

from __future__ import annotations

import pytest

from linode_emu.errors import EmuApiError
from linode_emu.pagination import envelope, page_params


def test_pages_are_full_except_the_last():
    items = list(range(250))
    pages = [envelope(items, page, 100) for page in (1, 2, 3)]
    assert [len(page["data"]) for page in pages] == [100, 100, 50]
    assert {(page["pages"], page["results"]) for page in pages} == {(3, 250)}
    assert [item for page in pages for item in page["data"]] == items
    assert [page["page"] for page in pages] == [1, 2, 3]


def test_empty_collection_has_one_page():
    assert envelope([], 1, 100) == {"data": [], "page": 1, "pages": 1, "results": 0}


def test_page_beyond_the_last_is_empty():
    assert envelope(list(range(30)), 3, 25) == {"data": [], "page": 3, "pages": 2, "results": 30}


def test_exact_multiple_has_no_extra_page():
    assert envelope(list(range(50)), 2, 25)["pages"] == 2


def test_page_params_default_and_parse():
    assert page_params({}) == (1, 100)
    assert page_params({"page": "2", "page_size": "25"}) == (2, 25)
    assert page_params({"page_size": "500"}) == (1, 500)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": "24"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
        ({"page_size": "many"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_page_params_out_of_bounds_name_the_field(query, field):
    with pytest.raises(EmuApiError) as caught:
        page_params(query)
    assert (caught.value.status, caught.value.field) == (400, field)
