"""Abuse limits (PRODUCT.md §7; API.md 429 ``rate_limited`` with ``Retry-After``) and log-in lockout.

The suite switches limits off (tests/conftest.py); these tests switch them back on and lower the
staff-editable settings so a few requests reach them.
"""

from __future__ import annotations

import pytest
from django.test import Client

from creatornext.accounts.models import CreatorProfile
from creatornext.core import config, throttling
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits_on(settings, db):
    settings.RATE_LIMITS_ENABLED = True
    staff = make_user("limits_staff", staff=True)

    def set_limit(scope: str, count: int, window: int = 3600) -> None:
        count_def, window_def = throttling.SETTINGS[scope]
        config.set_value(definition=count_def, value=count, actor=staff, reason="test")
        config.set_value(definition=window_def, value=window, actor=staff, reason="test")

    return set_limit


# (scope, path, who posts). Bodies are empty: the limit counts attempts, valid or not (400).
LIMITED = [
    ("tips", "/api/v1/tips/", "fan"),
    ("gift_sends", "/api/v1/gift-sends/", "fan"),
    ("coin_purchases", "/api/v1/coin-purchases/", "fan"),
    ("redemptions", "/api/v1/redemptions/", "creator"),
    ("withdrawals", "/api/v1/withdrawals/", "creator"),
    ("register", "/api/v1/auth/register/", None),
    ("login", "/api/v1/auth/token/", None),
]


@pytest.mark.parametrize(("scope", "path", "who"), LIMITED, ids=[row[0] for row in LIMITED])
def test_the_request_over_the_limit_is_429_rate_limited_with_retry_after(
        limits_on, nothing_changed, scope, path, who):
    limits_on(scope, 2)
    user = make_user(who) if who else None
    other = make_user(f"other_{scope}") if who else None
    if who == "creator":
        for n, person in enumerate((user, other)):
            CreatorProfile.objects.create(user=person, handle=f"limited{n}", country="US")
    client = api_client(user)
    api_client(other)  # token exists before nothing_changed
    for n in range(2):
        response = client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"k{n}")
        assert response.status_code != 429, response.content
    with nothing_changed():
        response = client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 3600
    if who:  # per user: another caller is not held back by this one
        assert api_client(other).post(path, {}, format="json",
                                      HTTP_IDEMPOTENCY_KEY="k1").status_code != 429
        if scope in ("tips", "redemptions", "withdrawals"):  # reading the list stays open
            assert client.get(path).status_code == 200


def test_a_staff_change_to_the_limit_applies_at_once(limits_on):
    fan = make_user("fan")
    limits_on("tips", 1)
    client = api_client(fan)
    assert client.post("/api/v1/tips/", {}, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 400
    assert client.post("/api/v1/tips/", {}, format="json", HTTP_IDEMPOTENCY_KEY="b").status_code == 429
    limits_on("tips", 5)
    assert client.post("/api/v1/tips/", {}, format="json", HTTP_IDEMPOTENCY_KEY="c").status_code == 400


def _token(username: str, password: str):
    return api_client(None).post("/api/v1/auth/token/", {"username": username, "password": password},
                                 format="json")


def test_repeated_failed_logins_lock_the_account_even_for_the_right_password(limits_on, settings):
    settings.RATE_LIMITS_ENABLED = False  # the lockout counts regardless of the per-address limit
    make_user("victim")
    make_user("bystander")
    staff = make_user("lock_staff", staff=True)
    config.set_value(definition=throttling.LOCKOUT_FAILURES, value=3, actor=staff)
    for _ in range(3):
        assert _token("victim", "wrong").json()["error"]["code"] == "invalid_credentials"
    response = _token("VICTIM", "correct horse battery")  # usernames are case-insensitive here
    assert response.status_code == 429
    body = response.json()["error"]
    assert body["code"] == "rate_limited" and "Too many failed log-ins" in body["message"]
    assert 1 <= int(response["Retry-After"]) <= 900
    assert _token("bystander", "correct horse battery").status_code == 200


def test_the_login_page_shares_the_lockout_and_says_why(limits_on, settings):
    settings.RATE_LIMITS_ENABLED = False
    make_user("victim")
    staff = make_user("lock_staff", staff=True)
    config.set_value(definition=throttling.LOCKOUT_FAILURES, value=2, actor=staff)
    page = Client()
    for _ in range(2):
        assert page.post("/accounts/login/", {"username": "victim", "password": "no"}).status_code == 200
    response = page.post("/accounts/login/", {"username": "victim", "password": "correct horse battery"})
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in page.session
    assert _token("victim", "correct horse battery").status_code == 429  # the API too


def test_the_login_and_signup_pages_are_rate_limited_per_address(limits_on):
    make_user("someone")
    limits_on("login", 2)
    limits_on("register", 1)
    page = Client()
    for _ in range(2):
        assert page.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200
    response = page.post("/accounts/login/", {"username": "someone", "password": "correct horse battery"})
    assert response.status_code == 429 and "Too many requests" in response.content.decode()
    assert "_auth_user_id" not in page.session
    assert page.post("/accounts/signup/", {}).status_code == 200
    response = page.post("/accounts/signup/", {})
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
