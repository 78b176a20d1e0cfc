"""The OpenAPI document: valid OpenAPI 3, and the API keeps to it (schemathesis, R11)."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from creatornext.accounts.models import User
from creatornext.wsgi import application


@pytest.mark.django_db
def test_schema_is_valid_openapi_3(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    validate_schema(document)  # raises on any violation of the OpenAPI 3 meta-schema


def test_schema_generation_has_no_warnings(tmp_path):
    # Same check as CI's lint step: a warning (e.g. an unannotated field) fails.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


@pytest.fixture
def _keep_test_connection():
    """Schemathesis calls the WSGI app directly; like Django's test client, keep the end of each
    request from closing the test's database connection (and its transaction)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Our API answers 400 for business rules the schema cannot express (a weak password, a wrong
# password, a taken handle), so "a schema-valid request must be accepted" does not hold here. Every
# other check runs: no 5xx, documented status codes, content types and response shapes, and
# schema-violating requests refused.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]

# Loaded at collection: generating the document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_test_connection")
def test_api_conforms_to_its_schema_anonymously(case):
    # No 5xx, and every response (401s included) matches the documented schema.
    case.call_and_validate(excluded_checks=EXCLUDED)


@schema.parametrize()
# Four roles at 10 examples each: every role's view of every operation, within make test's budget
# (25 each took four minutes on this machine).
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
# The payment endpoints call the provider: its local fake, whichever tests ran before this one.
@pytest.mark.usefixtures("_keep_test_connection", "fake_stripe")
@pytest.mark.parametrize("role", ["fan", "creator", "brand_member", "staff"])
def test_api_conforms_to_its_schema_as_each_signed_in_role(case, role):
    # The other creator and the other brand's member see the API as a creator and a brand
    # member do (the authorisation matrix proves what differs for them).
    from tests.support.world import build_world

    world = build_world() if not User.objects.filter(username=role).exists() else None
    user = (world.users[role] if world else User.objects.get(username=role))
    token, _ = Token.objects.get_or_create(user=user)
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, excluded_checks=EXCLUDED)
