"""The README's fleet spec section documents every setting of ``salt_immutable/spec.py``, with its default.

The settings come from :func:`salt_immutable.spec.settings_reference`, which walks the spec dataclasses
the way the parser does (nested sections as ``rollout:max_surge``, lists of sections as
``volumes:N:name``). The README documents them in tables whose rows read
``| `key` | default | validation | meaning |``: a new key in spec.py without its row fails here, and so
does a row whose default differs from the code's, or a row for a key the code does not know.
"""

import re
from pathlib import Path

import pytest
import yaml

from salt_immutable import spec

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "The fleet spec"
SETTINGS = spec.settings_reference()
REQUIRED = "required"
NO_DEFAULT = "—"  # an optional setting that is unset by default (None in the code)


def fleet_spec_section():
    """The text of the README's ``## The fleet spec`` section, up to the next ``## `` heading."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(SECTION)}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {SECTION}' section"
    return match.group(1)


def table_rows(section):
    """``{key: [default, validation, meaning]}`` of every table row whose first cell is a `key`."""
    rows = {}
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        if key:
            rows[key.group(1)] = cells[1:]
    return rows


ROWS = table_rows(fleet_spec_section())


def same(documented, expected):
    """Equal, and a boolean only for a boolean (YAML's ``false`` is not the integer ``0``)."""
    return documented == expected and isinstance(documented, bool) == isinstance(expected, bool)


def documented_default(cell):
    """What a default cell says: ``required``, ``—`` (unset) or the YAML value of its first `code` span."""
    plain = cell.replace("`", "").strip()
    if plain.startswith(REQUIRED):
        return REQUIRED
    if plain.startswith(NO_DEFAULT):
        return None
    code = re.search(r"`([^`]*)`", cell)
    assert code, f"the default {cell!r} is neither 'required', '{NO_DEFAULT}' nor a `value`"
    return yaml.safe_load(code.group(1))


def test_the_settings_are_walked_nested():
    """The walk reaches nested sections and lists of sections, so the test below cannot pass on nothing."""
    keys = [key for key, _default, _doc in SETTINGS]
    assert {"version", "linode:region", "rollout:max_surge", "tests:http:port", "volumes:N:mount"} <= set(keys)
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("key", "default", "doc"), SETTINGS, ids=[key for key, _default, _doc in SETTINGS])
def test_every_setting_has_a_row_with_its_default(key, default, doc):
    assert key in ROWS, f"README.md '## {SECTION}' has no table row for `{key}` ({doc}; default {default!r})"
    cells = ROWS[key]
    assert len(cells) >= 3 and all(cells[:3]), f"the row of `{key}` needs a default, a validation and a meaning"
    shown = documented_default(cells[0])
    assert same(shown, default), f"README.md says `{key}` defaults to {cells[0]}; spec.py says {default!r}"


def test_no_row_names_a_setting_the_code_does_not_know():
    """Rows may name a setting or a section holding settings (``nodebalancer``, ``tests:http``); nothing else."""
    keys = {key for key, _default, _doc in SETTINGS}
    sections = {prefix for key in keys for prefix in _prefixes(key)}
    unknown = sorted(set(ROWS) - keys - sections)
    assert not unknown, f"README.md '## {SECTION}' documents keys spec.py does not have: {unknown}"


def _prefixes(key):
    parts = key.split(":")
    return {":".join(parts[:end]).removesuffix(":N") for end in range(1, len(parts))} - {""}


def test_the_yaml_examples_of_the_section_are_valid_pillar():
    """Every ```yaml block of the section holding an ``immutable`` pillar parses without a problem."""
    blocks = re.findall(r"```yaml\n(.*?)```", fleet_spec_section(), re.DOTALL)
    pillars = [data for data in (yaml.safe_load(block) for block in blocks)
               if isinstance(data, dict) and "immutable" in data]
    assert pillars, f"README.md '## {SECTION}' shows no yaml example of the immutable pillar"
    for pillar in pillars:
        assert spec.parse(pillar).fleets
