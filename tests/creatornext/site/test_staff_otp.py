"""Staff two-factor for the admin (PRODUCT.md §7): the password alone never opens /admin/."""

import pytest
from django.test import Client

from tests.support.otp import current_code, totp_device
from tests.support.world import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests.support.world.make_user's


def _login(client, username, **extra):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": PASSWORD, **extra})


def test_a_password_without_the_code_is_refused():
    staff = make_user("boss", staff=True)
    device = totp_device(staff)
    client = Client()
    response = _login(client, "boss", otp_device=device.persistent_id, otp_token="")
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    _login(client, "boss", otp_device=device.persistent_id, otp_token=wrong)
    assert client.get("/admin/").status_code == 302


def test_the_current_totp_code_opens_the_admin():
    staff = make_user("boss", staff=True)
    device = totp_device(staff)
    client = Client()
    response = _login(client, "boss", otp_device=device.persistent_id, otp_token=current_code(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_logged_in_but_unverified_staff_session_is_sent_to_the_login():
    staff = make_user("boss", staff=True)
    client = Client()  # Django's own client: force_login does not verify a device
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_without_a_device_cannot_log_in_to_the_admin():
    make_user("boss", staff=True)
    client = Client()
    _login(client, "boss", otp_token="123456")
    assert client.get("/admin/").status_code == 302


def test_the_demo_staff_logs_in_with_the_code_demo_totp_prints(settings):
    import io

    from django.core.management import CommandError, call_command

    from creatornext.accounts.demo import DEMO_USERS, seed_demo
    from eligibility.defaults import seed_defaults

    seed_defaults()
    seed_demo()
    settings.DEBUG = False
    with pytest.raises(CommandError):  # never a 2FA shortcut outside development
        call_command("demo_totp", stdout=io.StringIO())
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo_totp", stdout=out)
    staff = next(u for u in DEMO_USERS if u.role == "staff")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": staff.password,
                                                           "otp_token": out.getvalue().strip()})
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
