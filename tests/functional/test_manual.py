"""The manual made real: every public function of the Salt faces shows how to call it.

Each public function (no leading underscore, not ``__virtual__``) of every ``.py`` file under ``_runners``,
``_modules``, ``_states`` and ``_output`` has a docstring with ``CLI Example:`` followed by a
``.. code-block:: bash`` block (``yaml`` for states) whose lines name the function:

- a runner: ``salt-run immutable.<function>``;
- a minion module: ``salt '<target>' immutable.<function>`` or ``salt-call immutable.<function>``;
- a state: an SLS whose state id uses ``immutable.<function>:``;
- an outputter (Salt calls its ``output`` by the outputter's name): ``--out=<outputter>``, or the
  ``salt-run immutable.<verb>`` of an existing runner verb whose output it prints.

The docstrings are then read the way Salt shows them: ``salt-run -d immutable`` (a subprocess against a
master config written as the README tells users; it needs no running master), ``sys.doc`` of the minion
module as a synced minion loads it, ``sys.state_doc`` of an orchestration's master minion, and the
outputter loader. Every check is parametrized per function, so a missing example names its function.
"""

import ast
import contextlib
import inspect
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import salt.config
import salt.loader
import salt.minion
import yaml

from tests.support.saltconfig import REPO, readme_master_config

FACE_FOLDERS = ("_runners", "_modules", "_states", "_output")
SALT_RUN = Path(sys.executable).parent / "salt-run"


@dataclass(frozen=True)
class Face:
    """One public function of a Salt face, as its source declares it."""

    folder: str
    path: Path
    virtualname: str
    name: str
    docstring: str

    @property
    def salt_name(self):
        """How Salt calls it: ``immutable.plan``; an outputter is called by its own name."""
        return self.virtualname if self.folder == "_output" else f"{self.virtualname}.{self.name}"

    @property
    def language(self):
        return "yaml" if self.folder == "_states" else "bash"

    def __str__(self):
        return f"{self.path.relative_to(REPO)}::{self.name}"


def _module_constants(tree):
    """``__virtualname__`` and ``__func_alias__`` of a module, when they are literals."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                constants[node.targets[0].id] = ast.literal_eval(node.value)
    return constants


def faces_in(root):
    """Every public function of the Salt faces under ``root``, read from the source (nothing imported)."""
    found = []
    for folder in FACE_FOLDERS:
        for path in sorted((root / folder).glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            constants = _module_constants(tree)
            virtualname = constants.get("__virtualname__", path.stem)
            aliases = constants.get("__func_alias__", {})
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                    name = aliases.get(node.name, node.name)
                    found.append(Face(folder, path, virtualname, name, ast.get_docstring(node) or ""))
    return found


FACES = faces_in(REPO)


def by_folder(*folders):
    return [pytest.param(face, id=str(face)) for face in FACES if face.folder in folders]


# --------------------------------------------------------------------------- what a good example is


def example_block(docstring, language):
    """The lines of the code block right after ``CLI Example:``; AssertionError saying what is missing."""
    lines = docstring.splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() == "CLI Example:"]
    assert starts, "no 'CLI Example:' in the docstring"
    rest = lines[starts[0] + 1:]
    while rest and not rest[0].strip():
        rest.pop(0)
    directive = f".. code-block:: {language}"
    assert rest and rest[0].strip() == directive, f"'CLI Example:' is not followed by '{directive}'"
    indent = len(rest[0]) - len(rest[0].lstrip())
    block = []
    for line in rest[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    block = [line for line in block if line.strip()]
    assert block, f"the '{directive}' block after 'CLI Example:' is empty"
    return block


def _command(program, salt_name):
    """A command line running ``program`` (a regex) with ``salt_name`` as one of its words."""
    return re.compile(rf"^(?:{program})\s(?:.*\s)?{re.escape(salt_name)}(?:\s|$)")


RUNNER_VERBS = {face.name for face in FACES if face.folder == "_runners"}


def names_itself(face, line):
    """True when ``line`` of an example shows ``face`` being used."""
    line = line.strip()
    if face.folder == "_runners":
        return bool(_command("salt-run", face.salt_name).match(line))
    if face.folder == "_modules":
        return bool(_command("salt|salt-call", face.salt_name).match(line))
    if face.folder == "_states":
        return re.match(rf"^-?\s*{re.escape(face.salt_name)}\s*:", line) is not None
    if re.search(rf"--out[= ]{re.escape(face.salt_name)}(?:\s|$)", line):
        return True
    runner = re.match(r"^salt-run\s(?:.*\s)?immutable\.(\w+)(?:\s|$)", line)
    return runner is not None and runner.group(1) in RUNNER_VERBS


def check_example(face, docstring=None):
    """Assert that ``docstring`` (the source's by default) holds a CLI example naming ``face``."""
    block = example_block(face.docstring if docstring is None else docstring, face.language)
    if face.folder == "_states":
        # Jinja aside, the example must be an SLS: a mapping of state ids.
        plain = [line for line in block if "{%" not in line and "{{" not in line]
        indent = min(len(line) - len(line.lstrip()) for line in block)
        sls = yaml.safe_load("\n".join(line[indent:] for line in plain))
        assert isinstance(sls, dict), f"the yaml example of {face.salt_name} is not an SLS mapping: {sls!r}"
    assert any(names_itself(face, line) for line in block), (
        f"no line of the CLI example names {face.salt_name}: {[line.strip() for line in block]}"
    )


def loaded_example(face, doc):
    """The same check on the docstring as Salt shows it (directives stripped): the lines after 'CLI Example:'."""
    assert doc, f"Salt shows no docstring for {face.salt_name}"
    assert "CLI Example:" in doc, f"Salt's docstring of {face.salt_name} has no 'CLI Example:'"
    after = doc.split("CLI Example:", 1)[1].splitlines()
    assert any(names_itself(face, line) for line in after), (
        f"Salt's docstring of {face.salt_name} has no example naming it:\n{doc}"
    )


# --------------------------------------------------------------------------- the faces as Salt loads them


@pytest.fixture(scope="module")
def master_config(tmp_path_factory):
    """A master config written the README's way (Way 1: the extension comes from the entry point)."""
    folder = tmp_path_factory.mktemp("manual-master")
    config = readme_master_config([REPO / "salt"])
    config["root_dir"] = str(folder / "root")
    (folder / "master").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="module")
def runner_docs(master_config):
    """``salt-run -d immutable``, split per function: ``{"immutable.plan": text, ...}``."""
    done = subprocess.run(
        [str(SALT_RUN), "-c", str(master_config), "-d", "immutable"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"salt-run -d immutable failed: {done.stderr}"
    docs, current = {}, None
    for line in done.stdout.splitlines():
        heading = re.fullmatch(r"(immutable\.\w+):", line)
        if heading:
            current = heading.group(1)
            docs[current] = []
        elif current is not None:
            docs[current].append(line)
    return {name: "\n".join(lines) for name, lines in docs.items()}


@pytest.fixture(scope="module")
def module_docs(tmp_path_factory):
    """``sys.doc immutable`` on a minion that synced ``_modules/`` (module_dirs stands for the sync)."""
    root = tmp_path_factory.mktemp("manual-minion")
    opts = salt.config.minion_config(None)
    opts.update({"file_client": "local", "root_dir": str(root), "cachedir": str(root / "cache"),
                 "module_dirs": [str(REPO / "_modules")]})
    return salt.loader.minion_mods(opts)["sys.doc"]("immutable")


@pytest.fixture(scope="module")
def master_opts(master_config):
    return salt.config.master_config(str(master_config / "master"))


@pytest.fixture(scope="module")
def state_docs(master_opts):
    """``sys.state_doc immutable`` on the master minion ``salt-run state.orch`` runs its states with."""
    opts = dict(master_opts, file_client="local")
    minion = salt.minion.MasterMinion(opts)
    try:
        yield minion.functions["sys.state_doc"]("immutable")
    finally:
        minion.destroy()


@pytest.fixture(scope="module")
def outputters(master_opts):
    return salt.loader.outputters(master_opts)


# --------------------------------------------------------------------------- the tests


def test_the_faces_are_found():
    """A glob that found nothing would pass every test below: the known verbs must be there."""
    names = {(face.folder, face.salt_name) for face in FACES}
    assert {("_runners", "immutable.plan"), ("_runners", "immutable.roll"), ("_modules", "immutable.seal"),
            ("_output", "immutable_progress")} <= names
    assert not any(face.name == "__virtual__" for face in FACES)


@pytest.mark.parametrize("face", by_folder(*FACE_FOLDERS))
def test_docstring_has_a_cli_example_naming_the_function(face):
    check_example(face)


@pytest.mark.parametrize("face", by_folder("_runners"))
def test_salt_run_d_shows_the_runner_with_its_example(face, runner_docs):
    assert face.salt_name in runner_docs, f"salt-run -d immutable does not list {face.salt_name}"
    loaded_example(face, runner_docs[face.salt_name])


@pytest.mark.parametrize("face", by_folder("_modules"))
def test_sys_doc_shows_the_minion_function_with_its_example(face, module_docs):
    assert face.salt_name in module_docs, f"sys.doc immutable does not list {face.salt_name}"
    loaded_example(face, module_docs[face.salt_name])


@pytest.mark.parametrize("face", by_folder("_states"))
def test_state_doc_shows_the_state_with_its_example(face, state_docs):
    assert face.salt_name in state_docs, f"sys.state_doc immutable (orchestration's loader) lacks {face.salt_name}"
    loaded_example(face, state_docs[face.salt_name])


@pytest.mark.parametrize("face", by_folder("_output"))
def test_the_outputter_loads_with_its_example(face, outputters):
    assert face.salt_name in outputters, f"the outputter loader does not find {face.salt_name}"
    loaded_example(face, outputters[face.salt_name].__doc__)


# --------------------------------------------------------------------------- the checks can fail

GOOD = '''
    Do it.

    CLI Example:

    .. code-block:: bash

        salt-run immutable.plan fleet=web

    fleet
        Only this fleet. Defaults to every fleet.
'''


@pytest.mark.parametrize(
    ("docstring", "complaint"),
    [
        ("Do it.\n\nfleet\n    Only this fleet.", "no 'CLI Example:'"),
        (GOOD.replace(".. code-block:: bash", ".. code-block:: yaml"), "not followed by '.. code-block:: bash'"),
        (GOOD.replace("salt-run immutable.plan", "salt-run immutable.roll"), "names immutable.plan"),
        (GOOD.replace("        salt-run immutable.plan fleet=web\n", ""), "block after 'CLI Example:' is empty"),
    ],
    ids=["no example", "wrong language", "another function", "empty block"],
)
def test_a_missing_or_wrong_example_fails(docstring, complaint):
    face = Face("_runners", REPO / "_runners" / "immutable.py", "immutable", "plan", "")
    check_example(face, inspect.cleandoc(GOOD))  # the good one passes
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        check_example(face, inspect.cleandoc(docstring))
