"""The master's ``immutable:`` settings: where the token may be sent."""

import pytest

from salt_immutable.config import master_settings
from salt_immutable.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "https://api.linode.com/v4",
        "http://127.0.0.1:8080/v4",
        "http://127.3.2.1/v4",
        "http://localhost:9000/v4",
        "http://[::1]:9000/v4",
    ],
)
def test_https_or_loopback_http_is_accepted(url):
    assert master_settings({"immutable": {"api_url": url}}).api_url == url


@pytest.mark.parametrize(
    "url",
    ["http://api.linode.com/v4", "http://10.0.0.5:8080/v4", "http://localhost.example.com/v4", "ftp://127.0.0.1/v4",
     "https:///v4", "api.linode.com/v4"],
)
def test_a_url_where_the_token_would_travel_in_clear_text_is_refused(url):
    with pytest.raises(ConfigError, match=r"immutable:api_url .*clear text"):
        master_settings({"immutable": {"api_url": url, "linode_token": "t"}})


def test_the_default_is_linodes_https_api():
    assert master_settings({}).api_url == "https://api.linode.com/v4"
