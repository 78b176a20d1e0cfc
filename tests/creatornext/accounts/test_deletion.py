"""Deleting an account removes personal data but keeps the rows that records point to."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.accounts.services import account_delete, brand_create
from creatornext.audit.models import AuditEvent
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


def test_delete_my_account_pseudonymises_and_keeps_referenced_rows():
    user = make_user("maya")
    user.first_name, user.last_name = "Maya", "Lopez"
    user.save()
    profile = CreatorProfile.objects.create(user=user, handle="maya.makes", country="US",
                                            display_name="Maya", bio="Pots and kilns")
    brand = brand_create(user=user, name="Maya Studio")
    events_before = AuditEvent.objects.filter(actor=user).count()
    client = api_client(user)

    # A wrong password refuses, changing nothing
    assert client.delete("/api/v1/me/", {"password": "wrong"}, format="json").status_code == 400
    assert User.objects.get(pk=user.pk).deleted_at is None

    response = client.delete("/api/v1/me/", {"password": "correct horse battery"}, format="json")
    assert response.status_code == 204

    user.refresh_from_db()
    # Personal data gone
    assert user.username == f"deleted-{user.pk}"
    assert user.email == ""
    assert (user.first_name, user.last_name, user.date_of_birth) == ("", "", None)
    assert not user.has_usable_password()
    assert not user.is_active
    assert user.deleted_at is not None
    profile.refresh_from_db()
    assert (profile.handle, profile.display_name, profile.bio) == (f"deleted-{user.pk}", "", "")
    # Rows that records point to are kept, under the pseudonymous owner
    assert CreatorProfile.objects.filter(pk=profile.pk, user=user).exists()
    assert AuditEvent.objects.filter(actor=user).count() == events_before + 1
    assert AuditEvent.objects.filter(action="account.deleted", object_id=str(user.pk)).exists()
    # The brand survives without the deleted member; the handle and address are free again
    assert Brand.objects.filter(pk=brand.pk).exists()
    assert not BrandMembership.objects.filter(user=user).exists()
    assert api_client(make_user("other")).post(
        "/api/v1/creators/", {"handle": "maya.makes", "country": "US"}, format="json").status_code == 201
    # The old token no longer works, and the public profile is gone
    assert client.get("/api/v1/me/").status_code == 401
    assert api_client(None).get(f"/api/v1/creators/deleted-{user.pk}/").status_code == 404


def test_deleting_twice_is_harmless():
    user = make_user("twice")
    account_delete(user=user, actor=user)
    account_delete(user=user, actor=user)
    assert AuditEvent.objects.filter(action="account.deleted").count() == 1


def test_a_user_row_cannot_be_deleted_while_records_point_to_it():
    user = make_user("kept")
    account_delete(user=user, actor=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).delete()


def test_audit_events_are_append_only_in_the_database():
    user = make_user("auditor")
    account_delete(user=user, actor=user)
    for sql in ("UPDATE audit_auditevent SET reason = 'rewritten'", "DELETE FROM audit_auditevent"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
    assert AuditEvent.objects.get().reason == ""
