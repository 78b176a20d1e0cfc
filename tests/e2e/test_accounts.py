"""A person signs up, verifies the email from the outbox, logs in and lands on the home page."""

import re

import pytest
from django.core import mail

from creatornext.accounts.models import User


@pytest.mark.django_db(transaction=True)
def test_sign_up_verify_log_in(page, live_server):
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()

    # A mistake is shown next to its field, and nothing is created
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Email").fill("rosa@example.com")
    page.get_by_label("Date of birth").fill("2015-06-01")
    page.get_by_label("Password").fill("a-long-pass-phrase")
    page.get_by_role("button", name="Sign up").click()
    assert "You must be at least 13 to sign up." in page.inner_text("#id_date_of_birth_error")
    # …and tied to it for assistive technology: the input names the message, a list in an alert
    assert "id_date_of_birth_error" in page.get_attribute("#id_date_of_birth", "aria-describedby").split()
    assert page.locator("#id_date_of_birth_error[role=alert] > ul > li").count() == 1
    assert not User.objects.filter(username="rosa").exists()

    page.get_by_label("Date of birth").fill("1999-06-01")
    page.get_by_label("Password").fill("a-long-pass-phrase")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    # Logging in before verifying is refused with the reason
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Password").fill("a-long-pass-phrase")
    page.get_by_role("button", name="Log in").click()
    assert "Verify your email address first" in page.content()

    # Open the link from the email
    link = re.search(r"https?://\S+/accounts/verify/\S+/", mail.outbox[-1].body).group(0)
    page.goto(live_server.url + "/" + link.split("://", 1)[1].split("/", 1)[1])
    assert "Your email address is verified" in page.inner_text(".messages")

    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Password").fill("a-long-pass-phrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")
    assert "Signed in as rosa" in page.inner_text(".site-header")
    assert page.get_by_role("button", name="Log out").is_visible()
