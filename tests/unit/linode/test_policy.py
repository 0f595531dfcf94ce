"""Pure tests of the adapter's policies: back-off, error mapping, retry and recovery, deadlines.

No HTTP here: API failures are constructed ``ApiError`` objects, sleeps and clocks are fakes.
"""

import random
from datetime import datetime, timezone

import linode_api4 as api
import pytest
import requests

from salt_immutable import errors
from salt_immutable.deadline import Deadline
from salt_immutable.linode import LinodeProvider, _private_ip, _utc, backoff_delay, classify

TOKEN = "tok-3f9c1e0d-secret"


def api_error(status, *problems, retry_after=None, reason_phrase="Whatever"):
    """An ``ApiError`` as linode_api4 raises it for an answer with ``status`` and ``problems``."""
    response = requests.Response()
    response.status_code = status
    response.reason = reason_phrase
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    body = {"errors": [dict(p) for p in problems]} if problems else None
    return api.ApiError(f"[{status}]", status=status, json=body, response=response)


class FakeClock:
    """A clock that only moves when told to (or when the fake sleep sleeps)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def provider(clock):
    return LinodeProvider(
        TOKEN,
        "http://127.0.0.1:9/v4",
        max_attempts=4,
        backoff=1.0,
        max_backoff=8.0,
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
    )


def scripted(*outcomes):
    """An action that raises or returns ``outcomes`` in turn, counting its calls."""
    calls = []

    def action():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    action.calls = calls
    return action


# -- back-off --------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt,low,high", [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (9, 5.0, 10.0)])
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt, low, high):
    rng = random.Random(1)
    delays = [backoff_delay(attempt, 1.0, 10.0, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # jittered, not constant


def test_backoff_never_retries_before_retry_after():
    rng = random.Random(1)
    assert backoff_delay(1, 1.0, 10.0, rng, retry_after=7) == 7
    assert backoff_delay(5, 1.0, 10.0, rng, retry_after=0.1) >= 5.0


def test_backoff_is_reproducible_with_a_seeded_rng():
    first = [backoff_delay(n, 1.0, 30.0, random.Random(3)) for n in range(1, 6)]
    again = [backoff_delay(n, 1.0, 30.0, random.Random(3)) for n in range(1, 6)]
    assert first == again


# -- error mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,kind,retryable",
    [
        (400, errors.InvalidRequest, False),
        (401, errors.ProviderError, False),
        (404, errors.NotFound, False),
        (409, errors.Conflict, False),
        (408, errors.Transient, True),
        (429, errors.Transient, True),
        (500, errors.Transient, True),
        (502, errors.Transient, True),
        (503, errors.Transient, True),
        (504, errors.Transient, True),
        (501, errors.Transient, False),
    ],
)
def test_api_errors_map_by_status(status, kind, retryable):
    failure = classify(api_error(status, {"reason": "some reason"}))
    assert failure.kind is kind
    assert failure.retryable is retryable
    assert failure.reasons == ("some reason",)
    assert failure.status == status


def test_linode_busy_is_a_retryable_conflict():
    failure = classify(api_error(400, {"reason": "Linode busy."}))
    assert (failure.kind, failure.retryable) == (errors.Conflict, True)


def test_reasons_keep_the_field_at_fault():
    failure = classify(api_error(400, {"reason": "region is not valid", "field": "region"}, {"reason": "x"}))
    assert failure.reasons == ("region: region is not valid", "x")


def test_an_error_without_a_body_falls_back_on_the_http_reason():
    assert classify(api_error(502, reason_phrase="Bad Gateway")).reasons == ("Bad Gateway",)


def test_retry_after_is_read_in_seconds_and_ignored_when_garbled():
    assert classify(api_error(429, {"reason": "Too many requests"}, retry_after=3)).retry_after == 3.0
    assert classify(api_error(429, retry_after="soon")).retry_after is None


@pytest.mark.parametrize(
    "exc,kind,retryable",
    [
        (requests.ReadTimeout("read timed out"), errors.Transient, True),
        (requests.ConnectTimeout("connect timed out"), errors.Transient, True),
        (requests.ConnectionError("refused"), errors.Transient, True),
        (
            requests.exceptions.JSONDecodeError("Expecting value", "<html>", 0),
            errors.ProviderProtocolError,
            False,
        ),
        (api.UnexpectedResponseError("Unexpected response!"), errors.ProviderProtocolError, False),
        (requests.exceptions.InvalidURL("bad url"), errors.ProviderError, False),
    ],
)
def test_transport_failures_map_to_the_project_errors(exc, kind, retryable):
    failure = classify(exc)
    assert (failure.kind, failure.retryable) == (kind, retryable)


# -- the retry wrapper -----------------------------------------------------------------------------


def test_a_transient_failure_is_retried_until_it_succeeds(provider, clock):
    action = scripted(api_error(500, {"reason": "oops"}), requests.ReadTimeout(), "done")
    assert provider._call("get instance", 7, action) == "done"
    assert len(action.calls) == 3
    assert len(clock.sleeps) == 2


def test_retry_after_is_honoured(provider, clock):
    action = scripted(api_error(429, {"reason": "Too many requests"}, retry_after=6), "done")
    provider._call("get instance", 7, action)
    assert clock.sleeps[0] >= 6


def test_retries_are_bounded_and_end_in_transient_naming_operation_resource_and_reason(provider, clock):
    action = scripted(*[api_error(503, {"reason": "Service unavailable"})] * 4)
    with pytest.raises(errors.Transient) as caught:
        provider._call("get instance", "web-g1-1", action)
    assert len(action.calls) == 4
    assert len(clock.sleeps) == 3
    message = str(caught.value)
    assert "get instance web-g1-1 failed (HTTP 503)" in message
    assert "Service unavailable" in message and "gave up after 4 attempts" in message
    assert caught.value.operation == "get instance" and caught.value.resource == "web-g1-1"


def test_busy_that_never_clears_ends_in_conflict(provider):
    action = scripted(*[api_error(400, {"reason": "Linode busy."})] * 4)
    with pytest.raises(errors.Conflict, match=r"shut down instance 7 failed .*Linode busy"):
        provider._call("shut down instance", 7, action)


def test_a_failure_not_worth_retrying_is_raised_at_once(provider, clock):
    action = scripted(api_error(404, {"reason": "Not found"}))
    with pytest.raises(errors.NotFound, match="get image private/9 failed \\(HTTP 404\\): Not found"):
        provider._call("get image", "private/9", action)
    assert clock.sleeps == []


def test_a_create_looks_for_its_effect_before_trying_again(provider):
    action = scripted(api_error(502, {"reason": "Bad gateway"}), "created twice!")
    lookups = scripted("found it")
    assert provider._call("create instance", "web-1", action, recover=lookups) == "found it"
    assert len(action.calls) == 1


def test_a_create_runs_again_when_its_effect_is_absent(provider):
    action = scripted(requests.ReadTimeout(), "created")
    lookups = scripted(None)
    assert provider._call("create instance", "web-1", action, recover=lookups) == "created"
    assert len(action.calls) == 2


def test_a_duplicate_refusal_after_a_lost_answer_finds_the_first_one(provider):
    unique = api_error(400, {"reason": "Label must be unique among your linodes", "field": "label"})
    action = scripted(requests.ReadTimeout(), unique)
    lookups = scripted(None, "the first one")
    assert provider._call("create instance", "web-1", action, recover=lookups) == "the first one"


def test_a_first_refusal_is_not_second_guessed(provider):
    action = scripted(api_error(400, {"reason": "region is not valid", "field": "region"}))
    lookups = scripted()
    with pytest.raises(errors.InvalidRequest, match="region: region is not valid"):
        provider._call("create instance", "web-1", action, recover=lookups)
    assert lookups.calls == []


def test_the_token_never_reaches_an_error_message(provider):
    action = scripted(api_error(401, {"reason": f"Invalid Token {TOKEN}"}))
    with pytest.raises(errors.ProviderError) as caught:
        provider._call("list instances", None, action)
    assert TOKEN not in str(caught.value)
    assert all(TOKEN not in reason for reason in caught.value.reasons)


def test_the_token_never_reaches_a_retry_warning(provider, caplog):
    echoed = api_error(503, {"reason": f"Service unavailable for {TOKEN}"})
    action = scripted(echoed, "listed")
    with caplog.at_level("WARNING", logger="salt_immutable.linode"):
        assert provider._call("list instances", None, action) == "listed"
    assert "retrying" in caplog.text
    assert TOKEN not in caplog.text and "<token>" in caplog.text


def test_a_provider_needs_a_token():
    with pytest.raises(errors.ConfigError):
        LinodeProvider("")


def test_the_provider_does_not_show_its_token():
    assert TOKEN not in repr(LinodeProvider(TOKEN))


# -- conversions -----------------------------------------------------------------------------------


def test_private_ip_prefers_a_private_address():
    assert _private_ip(("203.0.113.7", "192.168.140.9")) == "192.168.140.9"
    assert _private_ip(("203.0.113.7", "127.0.3.4")) == "127.0.3.4"
    assert _private_ip(("203.0.113.7",)) == "203.0.113.7"
    assert _private_ip(()) is None


def test_datetimes_become_aware_utc():
    assert _utc(datetime(2024, 5, 1, 12, 0, 0)) == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert _utc("2024-05-01T12:00:00.123Z") == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert _utc("yesterday") is None
    assert _utc(None) is None


# -- deadlines -------------------------------------------------------------------------------------


def test_a_deadline_counts_down_on_its_clock(clock):
    deadline = Deadline(30, clock=clock)
    clock.now += 12
    assert deadline.elapsed() == 12
    assert deadline.remaining() == 18
    assert not deadline.expired()
    assert deadline.pause(5) == 5
    clock.now += 16
    assert deadline.pause(5) == 2
    clock.now += 3
    assert deadline.remaining() == 0
    assert deadline.expired()


def test_an_expired_deadline_raises_a_timeout_naming_the_wait(clock):
    deadline = Deadline(300, clock=clock)
    deadline.check("wait for instance", "web-g1-1", "not running, still booting")
    clock.now += 300
    with pytest.raises(errors.ProviderTimeout) as caught:
        deadline.check("wait for instance", "web-g1-1", "not running, still booting")
    assert str(caught.value) == "wait for instance web-g1-1 failed: not running, still booting after 300 s"
    assert caught.value.resource == "web-g1-1"


def test_a_deadline_needs_a_budget():
    with pytest.raises(ValueError):
        Deadline(-1)


def test_one_deadline_is_shared_by_the_waits_of_an_operation(clock):
    deadline = Deadline(10, clock=clock)
    clock.now += 7  # the first wait took 7 s
    assert deadline.remaining() == 3  # the second has what is left
