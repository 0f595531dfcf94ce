"""The unit tier's rule: a unit test that binds or listens on a socket, or starts a process, fails at once."""

import os
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import NO_DAEMONS


def fork():
    if os.fork() == 0:  # only if the guard let it through: the child must not go on running the tests
        os._exit(0)


STARTS = {
    "bind": lambda: socket.socket().bind(("127.0.0.1", 0)),
    "listen": lambda: socket.socket().listen(),
    "subprocess.run": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
    "subprocess.Popen": lambda: subprocess.Popen(["true"]),
    "os.fork": fork,
    "os.posix_spawn": lambda: os.posix_spawn("/bin/true", ["true"], {}),
    "os.system": lambda: os.system("true"),
}


@pytest.mark.parametrize("start", STARTS.values(), ids=STARTS.keys())
def test_starting_a_server_or_a_process_fails_the_test_naming_the_rule(start):
    with pytest.raises(pytest.fail.Exception, match=f"^{NO_DAEMONS} "):
        start()


def test_an_except_exception_in_the_code_under_test_does_not_hide_the_refusal():
    def swallowing():
        try:
            subprocess.run(["true"], check=True)
        except Exception:
            return "swallowed"

    with pytest.raises(pytest.fail.Exception, match=NO_DAEMONS):
        swallowing()
