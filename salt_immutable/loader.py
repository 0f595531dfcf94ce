"""The ``salt.loader`` entry point, and where an installed salt-immutable keeps its Salt faces.

``faces/`` mirrors the repository's layout (``_runners``, ``_states``, ``_modules``, ``_output``, and the
state tree's ``orch/immutable`` and ``reactor/immutable``), so that:

- a ``pip install`` on the master registers the runner, the orchestration states and the progress
  outputter with no sync step;
- ``faces/`` can be added to the master's ``file_roots``, from where minions receive
  ``_modules/immutable.py`` with ``saltutil.sync_modules`` (minions do not get the package), and where
  ``orch.immutable.roll`` and ``salt://reactor/immutable/notify.sls`` resolve.
"""

from pathlib import Path

FACES = Path(__file__).resolve().parent / "faces"


def extension_dirs():
    """Return the loader folders per Salt extension type, as Salt's entry point protocol asks."""
    return {
        "runners": [str(FACES / "_runners")],
        "states": [str(FACES / "_states")],
        "output": [str(FACES / "_output")],
    }
