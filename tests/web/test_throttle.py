"""The login throttle (web/throttle.py): per client and name, per client, and the
per-name back-off that delays but cannot lock a user out from everywhere. The
throttle's own tests run on a test clock; the console's go through real requests
from several client addresses to one app."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from support.webconsole import PASSWORD, csrf_of
from web import create_app
from web.throttle import Admission, LoginThrottle, Refusal, client_key


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def throttle(clock: Clock, **kwargs: float) -> LoginThrottle:
    settings = {"attempts": 5, "client_attempts": 30, "user_attempts": 20, "window": 300.0,
                "backoff": 1.0, "max_backoff": 8.0, **kwargs}
    return LoginThrottle(clock=clock, **settings)  # type: ignore[arg-type]


def fail(t: LoginThrottle, client: str, name: str, times: int = 1) -> None:
    for _ in range(times):
        t.failed(client, name)


def test_a_client_that_keeps_failing_on_a_name_is_refused_that_name_only(clock):
    t = throttle(clock)
    fail(t, "198.51.100.7", "admin", 4)
    assert t.admit("198.51.100.7", "admin") == Admission()
    fail(t, "198.51.100.7", "admin")
    assert t.admit("198.51.100.7", "admin").refusal is Refusal.CLIENT_USER
    assert t.admit("198.51.100.7", "thanhtra").is_allowed
    assert t.admit("203.0.113.9", "admin") == Admission()


def test_the_refusal_ends_when_the_failures_leave_the_window(clock):
    t = throttle(clock)
    fail(t, "198.51.100.7", "admin", 5)
    clock.now += 299.0
    assert not t.admit("198.51.100.7", "admin").is_allowed
    clock.now += 1.0
    assert t.admit("198.51.100.7", "admin") == Admission()


def test_an_outsider_cannot_lock_the_administrator_out_from_everywhere(clock):
    t = throttle(clock)
    # a thousand failures on admin, from 200 addresses, five each
    for host in range(200):
        fail(t, f"10.0.{host // 250}.{host % 250}", "admin", 5)
    attackers = [t.admit(f"10.0.0.{host}", "admin") for host in range(200)]
    assert {a.refusal for a in attackers} == {Refusal.CLIENT_USER}
    # the administrator's own client has not failed: let through, only delayed
    at_the_office = t.admit("192.0.2.10", "admin")
    assert at_the_office.is_allowed and at_the_office.delay == 8.0
    # and other names are not touched at all
    assert t.admit("192.0.2.10", "thanhtra") == Admission()


def test_under_attack_a_name_gives_a_failed_client_no_second_guess(clock):
    t = throttle(clock)
    for host in range(20):
        fail(t, f"10.0.0.{host}", "admin")
    # each attacker failed once, far under its own five
    assert t.admit("10.0.0.1", "admin").refusal is Refusal.USER_UNDER_ATTACK
    # a new address gets its one try, delayed
    assert t.admit("10.0.1.1", "admin") == Admission(delay=1.0)
    clock.now += 300.0
    assert t.admit("10.0.0.1", "admin") == Admission()


@pytest.mark.parametrize(("failures", "delay"), [
    (19, 0.0), (20, 1.0), (39, 1.0), (40, 2.0), (60, 4.0), (80, 8.0), (400, 8.0)])
def test_the_delay_doubles_with_each_round_of_failures_up_to_its_cap(clock, failures, delay):
    t = throttle(clock, client_attempts=10_000)
    for n in range(failures):
        t.failed(f"10.1.{n // 250}.{n % 250}", "admin")
    assert t.admit("192.0.2.10", "admin") == Admission(delay=delay)


def test_one_address_trying_many_names_is_refused_every_name(clock):
    t = throttle(clock)
    for n in range(30):
        t.failed("198.51.100.7", f"user{n}")
    assert t.admit("198.51.100.7", "admin").refusal is Refusal.CLIENT
    assert t.admit("203.0.113.9", "admin") == Admission()


def test_ipv6_clients_are_counted_by_their_64(clock):
    t = throttle(clock)
    for n in range(5):
        t.failed(f"2001:db8:1:2::{n + 1:x}", "admin")
    assert t.admit("2001:db8:1:2:ffff::99", "admin").refusal is Refusal.CLIENT_USER
    assert t.admit("2001:db8:1:3::1", "admin").is_allowed
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("testclient") == "testclient"


def test_names_longer_than_any_user_count_as_one(clock):
    t = throttle(clock)
    for n in range(5):
        t.failed("198.51.100.7", "x" * 100 + str(n))
    assert not t.admit("198.51.100.7", "x" * 100 + "other").is_allowed


def test_a_success_forgets_that_client_on_that_name_only(clock):
    t = throttle(clock)
    for host in range(20):
        fail(t, f"10.0.0.{host}", "admin")
    fail(t, "192.0.2.10", "admin", 4)
    t.succeeded("192.0.2.10", "admin")
    assert t.admit("192.0.2.10", "admin").is_allowed
    # the attack on the name goes on: the attackers are still refused
    assert t.admit("10.0.0.3", "admin").refusal is Refusal.USER_UNDER_ATTACK


def test_forgotten_keys_are_swept_so_memory_stays_bounded(clock):
    t = throttle(clock, client_attempts=100_000, user_attempts=100_000)
    for n in range(10_001):
        t.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", f"u{n}")
    assert len(t) == 3 * 10_001
    clock.now += 301.0
    t.failed("192.0.2.1", "admin")
    assert len(t) == 3


def test_nonsense_settings_are_refused(clock):
    with pytest.raises(ValueError, match="attempts must be 1 or more"):
        throttle(clock, attempts=0)
    with pytest.raises(ValueError, match="window positive"):
        throttle(clock, window=0)


# -- through the console ------------------------------------------------------------


def _client(app, host: str) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False,
                      client=(host, 40000))


def _login(c: TestClient, name: str, password: str):
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": name, "password": password,
                                  "csrf_token": token, "next": "/audit"})


def test_the_console_refuses_the_guesser_and_lets_the_administrator_in(env):
    settings = replace(env.settings, login_user_attempts=4, login_backoff_seconds=0.001)
    app = create_app(settings)
    for host in ("198.51.100.1", "198.51.100.2"):
        guesser = _client(app, host)
        for _ in range(2):
            assert _login(guesser, "admin", "wrong password!").status_code == 401
    # the name is under attack: a guesser that failed is refused even the right password
    refused = _login(_client(app, "198.51.100.1"), "admin", PASSWORD)
    assert refused.status_code == 429 and 'id="login-error"' in refused.text
    # the administrator's client never failed: in, after the short wait
    office = _client(app, "192.0.2.10")
    assert _login(office, "admin", PASSWORD).status_code == 303
    assert office.get("/audit").status_code == 200


def test_the_console_refuses_a_client_after_its_attempts_on_a_name(env):
    app = create_app(env.settings)
    guesser = _client(app, "198.51.100.1")
    for _ in range(env.settings.login_attempts):
        assert _login(guesser, "admin", "wrong password!").status_code == 401
    assert _login(guesser, "admin", PASSWORD).status_code == 429
    assert _login(guesser, "auditor-a", PASSWORD).status_code == 303
    assert _login(_client(app, "192.0.2.10"), "admin", PASSWORD).status_code == 303
