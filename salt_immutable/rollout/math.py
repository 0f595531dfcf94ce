"""PURE: how many servers a roll may add above, and take below, a fleet's count.

Rounding follows the Kubernetes Deployment controller: ``max_surge`` rounds **up** and
``max_unavailable`` rounds **down**, so that percentages err on the side of availability:

============  ===========  =================  ==================
count         max_surge    max_unavailable    (surge, unavailable)
============  ===========  =================  ==================
10            "25%"        "25%"              (3, 2)
3             "25%"        "25%"              (1, 0)
1             "100%"       0                  (1, 0)   blue/green
1             0            "50%"              (1, 0)   see below
============  ===========  =================  ==================

When both round to 0 no server could ever be replaced. Kubernetes then allows one unavailable;
salt-immutable allows one surge instead, so that a fleet of one never loses its only server before
its replacement is in service (the spec already refuses a literal 0 and 0).
"""


def scaled(quantity, count, round_up):
    """``quantity`` (a ``spec.Quantity``: absolute, or a percentage of ``count``) as a number of servers.

    >>> from salt_immutable.spec import Quantity
    >>> scaled(Quantity(25, percent=True), 3, round_up=True), scaled(Quantity(25, percent=True), 3, round_up=False)
    (1, 0)
    """
    if not quantity.percent:
        return quantity.value
    exact = quantity.value * count
    return -(-exact // 100) if round_up else exact // 100


def fenceposts(max_surge, max_unavailable, count):
    """``(surge, unavailable)`` in servers for a fleet of ``count``: never both 0 (see the module doc)."""
    surge = scaled(max_surge, count, round_up=True)
    unavailable = scaled(max_unavailable, count, round_up=False)
    if surge == 0 and unavailable == 0:
        surge = 1
    return surge, unavailable
