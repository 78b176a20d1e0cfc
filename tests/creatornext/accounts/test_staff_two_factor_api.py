"""Staff reach the API's staff endpoints only with two-factor authentication (PRODUCT §7): a staff
token is given only with a current code, and a browser session must be verified with a device."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from creatornext.core import config, throttling
from tests.eligibility.helpers import make_creator
from tests.support.otp import current_code, totp_device, verify_session
from tests.support.world import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests.support.world.make_user's


def obtain(**body):
    return APIClient().post("/api/v1/auth/token/", {"password": PASSWORD, **body}, format="json")


def error(response) -> tuple[int, str, dict]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["fields"]


def test_a_staff_token_needs_a_current_code_from_a_device(nothing_changed):
    staff = make_user("boss", staff=True)
    with nothing_changed():  # every refusal: no token, nothing else written
        refused = obtain(username="boss")  # no device yet
    assert error(refused)[:2] == (400, "otp_required") and "add an authenticator" in refused.json()["error"]["message"]
    device = totp_device(staff)
    with nothing_changed():
        assert error(obtain(username="boss"))[:2] == (400, "otp_required")
        assert error(obtain(username="boss", otp=""))[:2] == (400, "otp_required")

    code = current_code(device)
    given = obtain(username="boss", otp=code)
    assert given.status_code == 200 and given.json()["token"] == Token.objects.get(user=staff).key
    Token.objects.filter(user=staff).delete()
    # The same code again (a replay: django-otp keeps the last time step used) is refused, as is a
    # wrong one; neither gives a token.
    with nothing_changed():
        assert error(obtain(username="boss", otp=code))[:2] == (400, "invalid_otp")
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes a device wait a moment after a failure
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    with nothing_changed():
        status, code, fields = error(obtain(username="boss", otp=wrong))
    assert (status, code, list(fields)) == (400, "invalid_otp", ["otp"])


def test_wrong_codes_count_towards_the_log_in_lock_out(nothing_changed):
    staff = make_user("boss", staff=True)
    device = totp_device(staff)
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    with nothing_changed():
        for _ in range(config.get(throttling.LOCKOUT_FAILURES)):
            assert error(obtain(username="boss", otp=wrong))[:2] == (400, "invalid_otp")
        locked = obtain(username="boss", otp=current_code(device))  # now even the right code
    assert (locked.status_code, locked.json()["error"]["code"]) == (429, "rate_limited")


def test_a_fan_needs_no_code():
    make_user("fan")
    assert obtain(username="fan").status_code == 200


def test_a_staff_session_reaches_staff_endpoints_only_once_verified_with_a_device(nothing_changed):
    staff = make_user("boss", staff=True)
    creator = make_creator("maya")
    url = f"/api/v1/creators/{creator.handle}/metrics/"
    body = {"followers": 50_000, "views_30d": creator.views_30d, "posts_30d": creator.posts_30d,
            "account_created_at": creator.account_created_at.isoformat(),
            "account_type": creator.account_type, "standing": creator.standing, "fraud_flag": False}
    client = Client()  # the site's log-in page (a password, no code)
    client.force_login(staff)
    with nothing_changed():
        assert client.put(url, body, content_type="application/json").status_code == 403
        assert client.put(f"/api/v1/marketplace/creators/{creator.handle}/metrics/", {},
                          content_type="application/json").status_code == 403
    creator.refresh_from_db()
    assert creator.followers != 50_000
    verify_session(client, staff)  # as the admin's log-in does with a code
    assert client.put(url, body, content_type="application/json").status_code == 200
    creator.refresh_from_db()
    assert creator.followers == 50_000
