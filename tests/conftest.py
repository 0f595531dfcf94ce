"""Fixtures shared by every test tier."""

import pytest
import salt._logging
from saltfactories.plugins.event_listener import EventListener

pytest_plugins = ["tests.support.emulator"]

LOOPBACK = "127.0.0.1"


def pytest_configure(config):
    """Retire Salt's deferred log handler: it would flush at exit into a stream pytest has closed."""
    salt._logging.shutdown_temp_handler()


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionstart(session):
    """Keep pytest-salt-factories' log server on loopback (it binds every interface by default)."""
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = LOOPBACK
    yield


@pytest.fixture(scope="session")
def event_listener():
    """pytest-salt-factories' event listener, bound to loopback instead of every interface."""
    listener = EventListener()
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener
