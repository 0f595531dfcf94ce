"""The ``salt.loader`` entry point, and where an installed salt-immutable keeps its Salt faces.

``faces/`` mirrors the repository's layout (``_runners``, ``_modules``), so that:

- a ``pip install`` on the master registers the runner (and its progress outputter) with no sync step;
- ``faces/`` can be added to the master's ``file_roots``, from where minions receive
  ``_modules/immutable.py`` with ``saltutil.sync_modules`` (minions do not get the package).
"""

from pathlib import Path

FACES = Path(__file__).resolve().parent / "faces"


def extension_dirs():
    """Return the loader folders per Salt extension type, as Salt's entry point protocol asks."""
    return {
        "runners": [str(FACES / "_runners")],
        "output": [str(FACES / "_output")],
    }
