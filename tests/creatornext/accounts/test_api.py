"""Accounts API: sign-up, verification, tokens, /me, creators, brands, and the auth errors."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.audit.models import AuditEvent
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "newfan", "email": "NewFan@example.com", "password": "a-long-pass-phrase",
            "date_of_birth": "2000-02-29"}
    body.update(overrides)
    return client.post("/api/v1/auth/register/", body, format="json")


def verification_link() -> str:
    assert mail.outbox, "no email was sent"
    return re.search(r"https?://\S+/accounts/verify/\S+/", mail.outbox[-1].body).group(0)


def test_register_sends_verification_and_token_waits_for_it(django_capture_on_commit_callbacks):
    client = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        response = register(client)
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "newfan"
    assert body["email_verified"] is False
    assert body["roles"] == ["fan"]
    assert mail.outbox[0].to == ["NewFan@example.com"]

    # Before verifying: the token is refused with a clear reason
    refused = client.post("/api/v1/auth/token/", {"username": "newfan", "password": "a-long-pass-phrase"},
                          format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_not_verified"

    # After following the link: a token, and /me works with it
    path = verification_link().split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 302
    token = client.post("/api/v1/auth/token/", {"username": "newfan", "password": "a-long-pass-phrase"},
                        format="json")
    assert token.status_code == 200
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert me.get("/api/v1/me/").json()["email_verified"] is True
    # The link works once
    assert client.get("/" + path).status_code == 400


@pytest.mark.parametrize(("overrides", "field"), [
    ({"date_of_birth": (timezone.now().date() - datetime.timedelta(days=365 * 12)).isoformat()},
     "date_of_birth"),
    ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
    ({"date_of_birth": "not-a-date"}, "date_of_birth"),
    ({"password": "123"}, "password"),
    ({"email": "not-an-email"}, "email"),
    ({"username": "has space"}, "username"),
    ({"username": "taken"}, "username"),
    ({"email": "TAKEN@example.com"}, "email"),
])
def test_register_refusals_name_the_field_and_write_nothing(overrides, field, nothing_changed):
    make_user("taken")
    with nothing_changed():
        response = register(APIClient(), **overrides)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert mail.outbox == []


def test_wrong_password_is_400_invalid_credentials():
    make_user("dana")
    r = APIClient().post("/api/v1/auth/token/", {"username": "dana", "password": "nope"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_credentials"


def test_bad_token_is_401_and_no_token_is_401():
    client = APIClient()
    assert client.get("/api/v1/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_authenticates_its_user_in_one_query_and_an_inactive_users_token_is_401(
        django_assert_num_queries):
    from rest_framework.authtoken.models import Token

    from creatornext.accounts.authentication import TokenAuthentication

    user = make_user("dora")
    token = Token.objects.create(user=user)
    with django_assert_num_queries(1):
        found, found_token = TokenAuthentication().authenticate_credentials(token.key)
    assert (found.pk, found.username, found.email, found.date_of_birth) == (
        user.pk, "dora", user.email, user.date_of_birth)
    assert (found_token.key, found_token.user_id, found_token.created) == (token.key, user.pk, token.created)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}").get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User inactive or deleted."


def test_session_post_without_csrf_is_403():
    user = make_user("erin")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    before = Brand.objects.count()
    response = client.post("/api/v1/brands/", {"name": "Sneaky"}, format="json")
    assert response.status_code == 403
    assert Brand.objects.count() == before


def test_become_a_creator_and_public_profile():
    user = make_user("maya")
    client = api_client(user)
    response = client.post("/api/v1/creators/", {"handle": "Maya.Makes", "country": "us"}, format="json")
    assert response.status_code == 201
    assert response.json()["handle"] == "Maya.Makes"
    assert response.json()["country"] == "US"
    assert client.get("/api/v1/me/").json()["roles"] == ["fan", "creator"]

    # Public, case-insensitive, and without private metrics
    public = APIClient().get("/api/v1/creators/maya.makes/")
    assert public.status_code == 200
    assert set(public.json()) == {"handle", "country", "display_name", "bio", "created_at"}

    # A second profile is a state conflict, and nothing changes
    again = client.post("/api/v1/creators/", {"handle": "other", "country": "US"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    assert CreatorProfile.objects.count() == 1
    assert AuditEvent.objects.filter(action="creator.created").count() == 1


@pytest.mark.parametrize(("handle", "country", "field"), [
    ("a", "US", "handle"), ("x" * 25, "US", "handle"), ("bad-dash", "US", "handle"),
    ("MAYA.makes", "US", "handle"), ("fine", "USA", "country"), ("fine", "1A", "country"),
    ("maya.makes\n", "US", "handle"), ("fine\n", "US", "handle"),  # "$" matched before a final newline
])
def test_creator_handle_and_country_validation(handle, country, field, nothing_changed):
    CreatorProfile.objects.create(user=make_user("maya"), handle="maya.makes", country="US")
    client = api_client(make_user("someone"))
    with nothing_changed():
        response = client.post("/api/v1/creators/", {"handle": handle, "country": country}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_unknown_creator_is_404():
    assert APIClient().get("/api/v1/creators/nobody/").status_code == 404


def test_brands_another_brands_data_is_404_and_a_manager_may_not_change_the_team():
    owner, manager, outsider = make_user("owner"), make_user("manager"), make_user("outsider")
    created = api_client(owner).post("/api/v1/brands/", {"name": "Acme Studio"}, format="json")
    assert created.status_code == 201
    assert created.json() == {"id": created.json()["id"], "slug": "acme-studio", "name": "Acme Studio",
                              "verified": False}
    brand_id = created.json()["id"]
    added = api_client(owner).post(f"/api/v1/brands/{brand_id}/members/",
                                   {"username": "manager", "role": "manager"}, format="json")
    assert added.status_code == 201
    assert api_client(owner).get("/api/v1/me/").json()["roles"] == ["fan", "brand:acme-studio"]

    # Wrong role: a manager is a member but may not change the team → 403, nothing changed
    members_before = BrandMembership.objects.count()
    r = api_client(manager).post(f"/api/v1/brands/{brand_id}/members/",
                                 {"username": "outsider", "role": "owner"}, format="json")
    assert r.status_code == 403
    assert BrandMembership.objects.count() == members_before

    # Another user's private object: 404, exactly as for a brand that does not exist
    assert api_client(outsider).get(f"/api/v1/brands/{brand_id}/").status_code == 404
    assert api_client(outsider).get("/api/v1/brands/999999/").status_code == 404
    assert api_client(outsider).post(f"/api/v1/brands/{brand_id}/members/",
                                     {"username": "outsider", "role": "owner"},
                                     format="json").status_code == 404
    assert api_client(outsider).get("/api/v1/brands/").json() == []
    assert BrandMembership.objects.count() == members_before


def test_me_shows_roles():
    staff = make_user("boss", staff=True)
    assert api_client(staff).get("/api/v1/me/").json()["roles"] == ["fan", "staff"]
    assert User.objects.get(username="boss").email == "boss@example.com"


@pytest.mark.parametrize("path", ["/api/v1/creators/ab%00c/", "/api/v1/marketplace/creators/?q=a%00b",
                                  "/@ab%00c"])
def test_a_nul_character_in_the_address_is_a_400_not_a_server_error(path):
    response = APIClient().get(path)
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "invalid"


def test_a_token_with_a_nul_character_is_401():
    response = APIClient(HTTP_AUTHORIZATION="Token abc\x00def").get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


@pytest.mark.parametrize("cursor", ["cD1hYmM=", "cD0tMQ==", "cD3Csg==", "cD0xMTExMTExMTExMTExMTExMTExMTE="])
def test_a_cursor_we_did_not_make_is_400_not_a_server_error(cursor):
    """base64 of p=abc, p=-1, p=² and a 22-digit position: decoded fine, then compared with ids."""
    creator = CreatorProfile.objects.create(user=make_user("maya"), handle="maya.makes", country="US")
    for path in (f"/api/v1/creators/{creator.handle}/supporters/", "/api/v1/wallet/statement/", "/api/v1/tips/"):
        response = api_client(make_user(f"u{abs(hash(path)) % 10**6}")).get(f"{path}?cursor={cursor}")
        refused = (response.status_code, response.json()["error"]["fields"])
        assert refused == (400, {"cursor": ["Invalid cursor."]}), path


def test_json_nested_too_deeply_is_400_not_a_server_error(nothing_changed):
    body = "[" * 100_000 + "]" * 100_000
    with nothing_changed():
        response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parse_error")
