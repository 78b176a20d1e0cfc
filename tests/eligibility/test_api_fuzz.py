"""Schemathesis over the eligibility endpoints with real objects in the path, as the roles that get
past the permission check (the shared schema suite only runs anonymously and as a creator, so the
staff-only metrics feed never sees a generated body there)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from creatornext.accounts.models import User
from creatornext.wsgi import application
from tests.test_api_schema import EXCLUDED

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/api/v1/(eligibility/|programs/|creators/\{handle\}/metrics/)")

pytestmark = pytest.mark.usefixtures("_keep_test_connection")


@pytest.fixture
def _keep_test_connection():
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(role: str) -> str:
    from tests.support.world import build_world

    if not User.objects.filter(username=role).exists():
        build_world()
    token, _ = Token.objects.get_or_create(user=User.objects.get(username=role))
    return token.key


def _real_objects(case) -> None:
    if "handle" in (case.path_parameters or {}):
        case.path_parameters["handle"] = "creator_handle"
    if "program" in (case.path_parameters or {}):
        case.path_parameters["program"] = "live-gifts"


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_eligibility_endpoints_as_staff(case):
    _real_objects(case)
    case.call_and_validate(headers={"Authorization": f"Token {_token('staff')}"}, excluded_checks=EXCLUDED)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_eligibility_endpoints_as_a_creator(case):
    _real_objects(case)
    case.call_and_validate(headers={"Authorization": f"Token {_token('creator')}"},
                           excluded_checks=EXCLUDED)
