"""The OpenAPI document: valid OpenAPI 3, and the API keeps to it (schemathesis, R11)."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings

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


# Loaded at collection: generating the document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_test_connection")
def test_api_conforms_to_its_schema_anonymously(case):
    # No 5xx, and every response (401s included) matches the documented schema.
    case.call_and_validate()
