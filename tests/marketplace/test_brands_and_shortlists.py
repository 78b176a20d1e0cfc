"""Brand verification and the contact rule; shortlists visible to their brand's members only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from creatornext.accounts.models import Brand
from creatornext.audit.models import AuditEvent
from creatornext.core.models import OutboundEmail
from eligibility import services as eligibility_services
from marketplace import services
from marketplace.models import Shortlist
from tests.marketplace.helpers import brand_member, listed_creator
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.django_db


# --- verification and the contact rule ---------------------------------------------------------
def test_unverified_brands_cannot_contact_anyone(nothing_changed):
    _, brand = brand_member("fresh", verified=False)
    with nothing_changed(), pytest.raises(services.BrandUnverified) as refused:
        services.require_verified(brand)
    answer = refused.value.api_error()
    assert (answer.status_code, answer.code) == (403, "brand_unverified")


def test_staff_verification_is_audited_emailed_and_unlocks_contact():
    owner, brand = brand_member("fresh", verified=False)
    staff = make_user("staffer", staff=True)
    services.brand_verify(brand=brand, actor=staff, reason="documents checked")
    brand.refresh_from_db()
    assert brand.verified
    services.require_verified(brand)  # no longer raises
    event = AuditEvent.objects.get(action="brand.verified")
    assert (event.actor, event.object_id, event.reason) == (staff, str(brand.pk), "documents checked")
    assert event.before == {"verified": False}
    email = OutboundEmail.objects.get(template="brand_verified")
    assert email.to == [owner.email]
    assert "fresh brand" in email.subject and "/marketplace/" in email.body_text
    # Verifying again changes nothing
    services.brand_verify(brand=brand, actor=staff)
    assert AuditEvent.objects.filter(action="brand.verified").count() == 1
    assert OutboundEmail.objects.filter(template="brand_verified").count() == 1


def test_withdrawn_verification_stops_contact_again():
    _, brand = brand_member("fresh", verified=True)
    services.brand_unverify(brand=brand, actor=make_user("staffer", staff=True))
    with pytest.raises(services.BrandUnverified):
        services.require_verified(brand)
    assert AuditEvent.objects.filter(action="brand.unverified", object_id=str(brand.pk)).count() == 1


def test_admin_action_verifies_selected_brands(client):
    _, brand = brand_member("fresh", verified=False)
    staff = make_user("staffer", staff=True)
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.post(reverse("admin:accounts_brand_changelist"),
                           {"action": "verify", "_selected_action": [brand.pk]}, follow=True)
    assert response.status_code == 200
    assert Brand.objects.get(pk=brand.pk).verified
    assert AuditEvent.objects.filter(action="brand.verified", actor=staff).count() == 1


def test_creating_a_brand_makes_an_unverified_brand_with_me_as_owner():
    user = make_user("founder")
    response = api_client(user).post("/api/v1/brands/", {"name": "Founder Co"}, format="json")
    assert response.status_code == 201
    assert response.json()["verified"] is False
    with pytest.raises(services.BrandUnverified):
        services.require_verified(Brand.objects.get(pk=response.json()["id"]))


# --- shortlists --------------------------------------------------------------------------------
@pytest.fixture
def setting():
    mine, brand = brand_member("mine")
    other, _ = brand_member("other")
    creator = listed_creator("star.one", followers=40_000)
    client = api_client(mine)
    created = client.post("/api/v1/shortlists/", {"brand": brand.pk, "name": "Summer"}, format="json")
    assert created.status_code == 201, created.content
    shortlist_id = created.json()["id"]
    added = client.post(f"/api/v1/shortlists/{shortlist_id}/creators/", {"handle": "STAR.ONE"},
                        format="json")
    assert added.status_code == 201, added.content
    return {"mine": mine, "brand": brand, "other": other, "creator": creator, "id": shortlist_id}


def test_shortlist_crud_by_a_member(setting):
    client = api_client(setting["mine"])
    sid = setting["id"]
    body = client.get(f"/api/v1/shortlists/{sid}/").json()
    assert body["name"] == "Summer" and body["brand"] == setting["brand"].pk
    assert [(c["handle"], c["followers"], c["listed"]) for c in body["creators"]] == [("star.one", 40_000, True)]
    # Adding again is a no-op (200)
    again = client.post(f"/api/v1/shortlists/{sid}/creators/", {"handle": "star.one"}, format="json")
    assert again.status_code == 200 and len(again.json()["creators"]) == 1
    assert client.patch(f"/api/v1/shortlists/{sid}/", {"name": "Autumn"}, format="json").json()["name"] == "Autumn"
    listing = client.get("/api/v1/shortlists/").json()
    assert [s["name"] for s in listing["results"]] == ["Autumn"]
    assert client.delete(f"/api/v1/shortlists/{sid}/creators/star.one/").status_code == 204
    assert client.get(f"/api/v1/shortlists/{sid}/").json()["creators"] == []
    assert client.delete(f"/api/v1/shortlists/{sid}/").status_code == 204
    assert not Shortlist.objects.exists()
    assert list(AuditEvent.objects.filter(action__startswith="shortlist.").order_by("pk")
                .values_list("action", flat=True)) == [
        "shortlist.created", "shortlist.creator_added", "shortlist.renamed",
        "shortlist.creator_removed", "shortlist.deleted"]


@pytest.mark.parametrize("who", ["other", "plain", "anonymous"])
def test_no_one_outside_the_brand_sees_or_changes_its_shortlists(setting, who, nothing_changed):
    user = {"other": setting["other"], "plain": make_user("plain"), "anonymous": None}[who]
    client = api_client(user)
    sid = setting["id"]
    expected = {"other": 404, "plain": 404, "anonymous": 401}[who]
    with nothing_changed():
        assert client.get(f"/api/v1/shortlists/{sid}/").status_code == expected
        assert client.patch(f"/api/v1/shortlists/{sid}/", {"name": "x"}, format="json").status_code == expected
        assert client.delete(f"/api/v1/shortlists/{sid}/").status_code == expected
        assert client.post(f"/api/v1/shortlists/{sid}/creators/", {"handle": "star.one"},
                           format="json").status_code == expected
        assert client.delete(f"/api/v1/shortlists/{sid}/creators/star.one/").status_code == expected
        listing = client.get("/api/v1/shortlists/")
        if who == "other":
            assert listing.status_code == 200 and listing.json()["results"] == []
            assert client.get("/api/v1/shortlists/", {"brand": setting["brand"].pk}).json()["results"] == []
            made = client.post("/api/v1/shortlists/", {"brand": setting["brand"].pk, "name": "Mine now"},
                               format="json")
            assert made.status_code == 400 and made.json()["error"]["fields"] == {
                "brand": ["Choose one of your brands."]}
        else:
            assert listing.status_code == {"plain": 403, "anonymous": 401}[who]


def test_only_creators_in_search_can_be_added(setting, nothing_changed):
    from tests.eligibility.helpers import make_creator

    make_creator("not.enrolled", followers=90_000)
    client = api_client(setting["mine"])
    with nothing_changed():
        response = client.post(f"/api/v1/shortlists/{setting['id']}/creators/", {"handle": "not.enrolled"},
                               format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"handle": ["No creator with this handle is in the marketplace."]}


def test_a_creator_who_leaves_search_stays_on_the_list_marked(setting):
    creator = setting["creator"]
    eligibility_services.enrollment_opt_out(creator=creator, program="marketplace", actor=creator.user)
    body = api_client(setting["mine"]).get(f"/api/v1/shortlists/{setting['id']}/").json()
    assert [(c["handle"], c["listed"]) for c in body["creators"]] == [("star.one", False)]


def test_a_second_member_of_the_brand_sees_the_same_shortlists(setting):
    manager = make_user("manager")
    owner_client = api_client(setting["mine"])
    assert owner_client.post(f"/api/v1/brands/{setting['brand'].pk}/members/",
                             {"username": "manager", "role": "manager"}, format="json").status_code == 201
    body = api_client(manager).get(f"/api/v1/shortlists/{setting['id']}/")
    assert body.status_code == 200 and body.json()["creators"][0]["handle"] == "star.one"
