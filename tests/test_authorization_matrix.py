"""R10: every endpoint × every role answers exactly what API.md says (see tests/authz_matrix.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from tests.authz_matrix import MATRIX, ROLES
from tests.support.endpoints import protected_endpoints
from tests.support.world import build_world


def test_every_endpoint_has_a_complete_matrix_entry():
    endpoints = protected_endpoints()
    assert endpoints, "the URL configuration serves no API endpoint?"
    missing = [e.name for e in endpoints if e.name not in MATRIX]
    assert not missing, f"Endpoints without an authorisation-matrix entry: {missing}"
    for endpoint in endpoints:
        cells = MATRIX[endpoint.name].cells
        assert set(cells) == set(endpoint.methods), (
            f"{endpoint.name}: matrix methods {sorted(cells)} != served {list(endpoint.methods)}")
        for method, by_role in cells.items():
            assert set(by_role) == set(ROLES), f"{endpoint.name} {method}: roles {sorted(by_role)}"
    stale = set(MATRIX) - {e.name for e in endpoints}
    assert not stale, f"Matrix entries for endpoints that no longer exist: {sorted(stale)}"


CELLS = [(name, method, role, status)
         for name, entry in MATRIX.items()
         for method, by_role in entry.cells.items()
         for role, status in by_role.items()]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role", "expected"), CELLS,
                         ids=[f"{n}-{m}-{r}" for n, m, r, _ in CELLS])
def test_cell(name, method, role, expected):
    world = build_world()
    entry = MATRIX[name]
    url = reverse(name, kwargs=entry.kwargs(world))
    body = entry.body(world, method, role)
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = {}  # a JSON client always sends a body
    client = world.client(role)
    response = client.generic(method, url, data=None if body is None else json.dumps(body),
                              content_type="application/json",
                              HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "fields"}
