"""Every field the pinned client (linode_api4 5.48) reads from a disk, a NodeBalancer, a NodeBalancer config or
node is one the emulator sends.

``test_emulator_schema`` fails when the emulator leaves out a property of ``tests/data/linode_schema.json``
(the spec's, plus its ``additions``). This test closes the other gap: a property of linode_api4's model that is
in neither. Each one the emulator deliberately does not send is listed in ``NOT_SENT`` with the reason; any
other one fails here until it is added to the schema (``tools/derive_linode_schema.py`` ADDITIONS) and so to
the emulator.
"""

from __future__ import annotations

import pytest
from linode_api4.objects import Disk, NodeBalancer, NodeBalancerConfig, NodeBalancerNode

from tests.functional.schema.validator import load_schema

SCHEMA = load_schema()
MODELS = {"Disk": Disk, "NodeBalancer": NodeBalancer, "NodeBalancerConfig": NodeBalancerConfig,
          "NodeBalancerNode": NodeBalancerNode}
# (kind, property) -> why the emulator does not send it.
NOT_SENT = {
    ("Disk", "linode_id"): "an identifier linode_api4 takes from the URL (the Disk's parent), not a field of the "
    "API's Disk (spec 4.176 #/components/schemas/Disk has none)",
    ("NodeBalancer", "status"): "in neither spec 4.176 nor the recorded traffic: no faithful value is known",
    ("NodeBalancer", "locks"): "resource locks, in neither spec 4.176 nor the recorded traffic (the emulator's "
    "Linodes, which linode_api4 also gives locks, send none either)",
    ("NodeBalancerNode", "tags"): "in neither spec 4.176 nor the recorded traffic: no faithful value is known",
}


def client_fields(kind: str) -> set[str]:
    """The properties linode_api4 reads from the API's JSON of this kind (derived collections are requests)."""
    return {name for name, prop in MODELS[kind].properties.items() if not prop.derived_class}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_field_the_client_reads_is_in_the_schema_or_explained(kind: str) -> None:
    unexplained = client_fields(kind) - set(SCHEMA[kind]["properties"]) - {name for k, name in NOT_SENT if k == kind}
    assert not unexplained, f"{kind}: linode_api4 5.48 reads {sorted(unexplained)}, which the emulator does not send"


def test_every_explanation_is_still_needed() -> None:
    stale = [
        (kind, name)
        for kind, name in NOT_SENT
        if name not in client_fields(kind) or name in SCHEMA[kind]["properties"]
    ]
    assert not stale, f"NOT_SENT lists fields linode_api4 no longer reads or the emulator now sends: {stale}"
