"""The ``salt.loader`` entry point: where an installed salt-immutable keeps its Salt faces.

A ``pip install`` on the master registers the runner and the states with no sync step. The minion
module is deliberately absent: minions receive ``_modules/immutable.py`` through ``saltutil.sync_*``.
"""

from pathlib import Path

FACES = Path(__file__).resolve().parent / "faces"


def extension_dirs():
    """Return the loader folders per Salt extension type, as Salt's entry point protocol asks."""
    return {
        "runners": [str(FACES / "runners")],
        "states": [str(FACES / "states")],
    }
