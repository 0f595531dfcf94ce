"""Python environments as a user's master has them, and Salt daemons run from them.

``fresh_env`` makes a virtual environment that sees the test venv's packages (Salt, ``linode_api4``, ...)
but not this repository's editable install of salt-immutable: its site-packages links every entry of
the test venv's but the ones that install belongs to (its dist-info with the entry point, its ``.pth``
and import finder). Installing the wheel into it is then a ``pip install`` as users make it; without the
wheel it is a master's Python with Salt and no salt-immutable at all. ``env_factories`` runs Salt daemons
and CLIs from it (its own ``salt-master``, ``salt-run``... scripts), with no ``PYTHONPATH``.
"""

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from saltfactories.manager import FactoriesManager

from tests.support.saltconfig import REPO

SITE = Path(sysconfig.get_paths()["purelib"])
SALT_SCRIPTS = {"salt": "salt_main", "salt-master": "salt_master", "salt-minion": "salt_minion",
                "salt-run": "salt_run", "salt-key": "salt_key", "salt-call": "salt_call"}
HIDDEN_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
SEES_SALT_IMMUTABLE = (
    "import importlib.metadata as m, importlib.util as u\n"
    "print([str(u.find_spec('salt_immutable'))] if u.find_spec('salt_immutable') else\n"
    "      [str(d._path) for d in m.distributions() if d.metadata['Name'] == 'salt-immutable'])"
)


def built_wheel(tmp_path_factory):
    """The wheel of this repository, built once per test session (``pip wheel``, as a release builds it)."""
    out = tmp_path_factory.getbasetemp() / "salt-immutable-wheel"
    wheels = list(out.glob("salt_immutable-*.whl"))
    if not wheels:
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)]
        subprocess.run(pip, check=True)
        wheels = list(out.glob("salt_immutable-*.whl"))
    (wheel,) = wheels
    return wheel


def editable_install_entries():
    """The site-packages entries of this repository's install of salt-immutable: what its RECORD lists
    (``.pth``, import finder) and anything named after it (its dist-info). None may be linked: pip would
    write the wheel's install through the link, into the test venv."""
    hidden = {entry.name for entry in SITE.iterdir() if "salt_immutable" in entry.name.replace("-", "_")}
    for dist in importlib.metadata.distributions(path=[str(SITE)]):
        if dist.metadata["Name"] == "salt-immutable":
            hidden |= {file.parts[0] for file in dist.files or () if file.parts[0] != ".."}
    return hidden | {"__pycache__"}


class PythonEnv:
    """A virtual environment: ``run`` a program of its ``bin/`` with no ``PYTHONPATH``."""

    def __init__(self, root):
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.python = self.bin / "python"
        self.site = self.root / SITE.relative_to(sys.prefix)

    def environ(self, **extra):
        clean = {key: value for key, value in os.environ.items() if key not in HIDDEN_VARIABLES}
        return {**clean, "PATH": f"{self.bin}{os.pathsep}{clean.get('PATH', '')}", **extra}

    def run(self, program, *argv, cwd, **extra_env):
        return subprocess.run([str(self.bin / program), *argv], capture_output=True, text=True, timeout=180,
                              cwd=cwd, env=self.environ(**extra_env))


def fresh_env(root, wheel=None):
    """A venv with the test venv's packages but not this repository's install; ``wheel`` pip-installed."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    env = PythonEnv(root)
    hidden = editable_install_entries()
    for entry in SITE.iterdir():
        if entry.name not in hidden:
            (env.site / entry.name).symlink_to(entry)
    for script, function in SALT_SCRIPTS.items():
        path = env.bin / script
        path.write_text(f"#!{env.python}\nimport sys\nfrom salt.scripts import {function}\nsys.exit({function}())\n")
        path.chmod(0o755)
    if wheel is not None:
        # pip must not find an install to replace: it would write through a link into the test venv
        seen = env.run("python", "-c", SEES_SALT_IMMUTABLE, cwd=root)
        assert seen.stdout.strip() == "[]", f"{root} still sees salt-immutable: {seen.stdout}{seen.stderr}"
        pip = [sys.executable, "-m", "pip", "--python", str(env.python), "install", "--no-deps", "--no-index", "-q",
               str(wheel)]
        subprocess.run(pip, check=True, env=env.environ())
    return env


def env_factories(salt_factories, env, root_dir):
    """A pytest-salt-factories manager whose daemons and CLIs are ``env``'s scripts, run from ``root_dir``."""
    return FactoriesManager(
        root_dir=root_dir,
        scripts_dir=env.bin,
        cwd=root_dir,
        environ=env.environ(),
        log_server_host=salt_factories.log_server_host,
        log_server_port=salt_factories.log_server_port,
        log_server_level=salt_factories.log_server_level,
        event_listener=salt_factories.event_listener,
        stats_processes=salt_factories.stats_processes,
        start_timeout=salt_factories.start_timeout,
        slow_stop=False,
    )


CODE_OBJECT = re.compile(r"^# code object from '?(?P<path>[^']+?)'?$", re.MULTILINE)


def code_loaded(verbose_stderr, folder_names, file_name="immutable.py"):
    """The source files named ``file_name`` in a folder named one of ``folder_names`` whose code a process
    run with ``PYTHONVERBOSE=1`` loaded (from source or from its ``__pycache__``), resolved."""
    loaded = set()
    for match in CODE_OBJECT.finditer(verbose_stderr):
        path = Path(match["path"])
        if path.parent.name == "__pycache__":
            path = path.parent.parent / (path.name.split(".")[0] + ".py")
        if path.name == file_name and path.parent.name in folder_names:
            loaded.add(path.resolve())
    return loaded
