"""Linode's list envelope: ``{"data", "page", "pages", "results"}`` (pure)."""

from __future__ import annotations

from linode_emu.errors import invalid

DEFAULT_PAGE_SIZE = 100
MIN_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500


def page_params(query: dict[str, str]) -> tuple[int, int]:
    """``(page, page_size)`` from the query string; 400 naming the parameter when out of range."""
    page = _positive_int(query, "page", 1)
    page_size = _positive_int(query, "page_size", DEFAULT_PAGE_SIZE)
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise invalid("page_size", f"page_size must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}")
    return page, page_size


def envelope(items: list, page: int, page_size: int) -> dict:
    """One page of ``items``; every page but the last is full, ``pages`` is at least 1."""
    pages = max(1, -(-len(items) // page_size))
    start = (page - 1) * page_size
    return {"data": items[start : start + page_size], "page": page, "pages": pages, "results": len(items)}


def _positive_int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer") from None
    if value < 1:
        raise invalid(name, f"{name} must be at least 1")
    return value
