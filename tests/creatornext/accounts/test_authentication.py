"""Token authentication: the plain look-up, and the remembered one the gift send uses."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from creatornext.accounts import authentication
from creatornext.accounts.authentication import TokenAuthentication, confirm_token
from creatornext.accounts.models import User
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def remembered(monkeypatch):
    monkeypatch.setattr(authentication, "_REMEMBERED", {})
    monkeypatch.setattr(authentication, "_REMEMBERED_MAX", 4)
    return authentication._REMEMBERED


def test_remembered_tokens_are_bounded_and_a_forgotten_one_is_looked_up_again(
        remembered, django_assert_num_queries):
    tokens = [Token.objects.create(user=make_user(f"u{i}")) for i in range(6)]
    auth = TokenAuthentication(remember=True)
    for token in tokens:
        assert auth.authenticate_credentials(token.key)[0].pk == token.user_id
    assert 0 < len(remembered) <= 4 and tokens[-1].key in remembered
    assert tokens[0].key not in remembered  # the oldest went first
    with django_assert_num_queries(1):
        user, token = auth.authenticate_credentials(tokens[0].key)  # looked up again…
    with django_assert_num_queries(0):
        again, _ = auth.authenticate_credentials(tokens[0].key)  # …then remembered
    assert again is not user and again.pk == user.pk  # a fresh instance a request
    with django_assert_num_queries(1):
        TokenAuthentication().authenticate_credentials(tokens[0].key)  # other endpoints always ask


def test_an_inactive_user_or_unknown_key_is_refused_and_not_remembered(remembered):
    inactive = make_user("gone")
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    key = Token.objects.create(user=inactive).key
    for unknown in (key, "0" * 40):
        with pytest.raises(AuthenticationFailed):
            TokenAuthentication(remember=True).authenticate_credentials(unknown)
    assert remembered == {}


def test_confirming_a_token_that_is_gone_forgets_it_and_refuses(remembered):
    token = Token.objects.create(user=make_user("fan"))
    TokenAuthentication(remember=True).authenticate_credentials(token.key)
    confirm_token(token.key, token.user_id)  # still there: no error
    assert token.key in remembered
    other = make_user("other")
    with pytest.raises(AuthenticationFailed):
        confirm_token(token.key, other.pk)  # not that user's
    assert token.key not in remembered
    token.delete()
    with pytest.raises(AuthenticationFailed):
        confirm_token(token.key, token.user_id, confirmed=False)
