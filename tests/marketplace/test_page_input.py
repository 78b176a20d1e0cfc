"""Bad input on the marketplace pages (Standards): a clear message next to the field, the page
again (200) with everything that was typed, nothing written — never a 500. And the services refuse
the same text (NUL, too long) for every caller, with per-field errors, before the database can."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.core.exceptions import ValidationError

from creatornext.accounts import services as account_services
from creatornext.accounts.models import Brand
from creatornext.money import Money
from eligibility.defaults import seed_defaults
from marketplace import campaigns, services
from marketplace.models import Campaign, Collaboration, Invitation, Shortlist
from tests.eligibility.helpers import enroll, make_creator
from tests.marketplace.collab_helpers import (
    accepted_collaboration,
    funded_collaboration,
    invite,
    make_campaign,
    post,
    submit,
    usd,
)
from tests.marketplace.helpers import brand_member, listed_creator

FUTURE = (datetime.date.today() + datetime.timedelta(days=40)).isoformat()
NUL = "Null characters are not allowed."


def field_error(page: str, field: str) -> str:
    """The messages shown next to ``field``: in its own ``<div class="field">`` (a group of
    checkboxes: ``<fieldset class="field">``), after its input (templates/includes/field.html)."""
    [box] = [box for box in re.split(r'<(?:div|fieldset) class="field[^"]*">', page)[1:] if f'name="{field}"' in box]
    found = re.search(r'<div class="field-error"[^>]*>(.*?)</div>', box, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def form_error(page: str) -> str:
    """The form's own messages, above its fields (a refusal that belongs to no one field)."""
    found = re.search(r'<div class="field-error" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def kept(page: str, value: str) -> bool:
    """``value`` is back in the form: an input's value or a textarea's text."""
    shown = html.escape(value)
    return f'value="{shown}"' in page or f"{shown}</textarea>" in page


def checked(page: str, name: str, value: str) -> bool:
    return re.search(rf'<input type="checkbox" name="{name}" value="{value}"[^>]* checked', page) is not None


def selected(page: str, value: str) -> bool:
    return re.search(rf'<option value="{value}" selected>', page) is not None


def refused(response, field: str, message: str) -> str:
    page = response.content.decode()
    assert response.status_code == 200, (response.status_code, page[:500])
    assert message in field_error(page, field), (field, field_error(page, field), form_error(page))
    return page


@pytest.fixture
def buyer(db, client):
    user, brand = brand_member("buyer")
    client.force_login(user)
    return user, brand


# --- the campaign form ---------------------------------------------------------------------------
CAMPAIGN = {"title": "Summer launch", "brief": "Show our new blender.", "deliverables": ["video", "live"],
            "budget": "2000", "deadline": FUTURE}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"brand": "abc"}, "brand", "Choose one of your brands."),
    ({"brand": "9" * 30}, "brand", "Choose one of your brands."),
    ({"deadline": "2031-02-30"}, "deadline", "Give a real date, e.g. 2031-02-28."),
    ({"deadline": ""}, "deadline", "Give a date."),
    ({"deadline": "2001-01-01"}, "deadline", "The deadline must be in the future."),
    ({"budget": "9" * 5000}, "budget", "That amount is too large."),
    ({"budget": "12.345"}, "budget", "USD amounts have at most 2 decimals."),
    ({"budget": "1"}, "budget", "A budget is at least $10.00."),
    ({"title": "x" * 121}, "title", "At most 120 characters."),
    ({"title": "Summer\x00launch"}, "title", NUL),
    ({"title": ""}, "title", "Give the campaign a title."),
    ({"brief": "b" * 5001}, "brief", "At most 5,000 characters."),
    ({"deliverables": []}, "deliverables", "Choose from video, live, series."),
])
def test_a_refused_campaign_keeps_what_was_typed_and_says_why_next_to_the_field(
        buyer, client, nothing_changed, change, field, message):
    _, brand = buyer
    sent = {"brand": brand.pk, **CAMPAIGN, **change}
    with nothing_changed():
        page = refused(client.post("/marketplace/campaigns/", sent), field, message)
    for name in ("title", "brief", "budget", "deadline"):
        if "\x00" not in sent[name]:
            assert kept(page, sent[name]), name
    for value in ("video", "live", "series"):
        assert checked(page, "deliverables", value) == (value in sent["deliverables"])
    assert not Campaign.objects.exists()


def test_a_good_campaign_is_created_and_the_page_moves_on(buyer, client):
    _, brand = buyer
    response = client.post("/marketplace/campaigns/", {"brand": brand.pk, **CAMPAIGN})
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/marketplace/campaigns/{campaign.pk}/"
    assert (campaign.title, campaign.budget, campaign.deliverables) == ("Summer launch", 200_000, ["video", "live"])


def test_the_campaign_form_starts_empty_with_the_first_deliverable(buyer, client):
    page = client.get("/marketplace/campaigns/").content.decode()
    assert checked(page, "deliverables", "video") and not checked(page, "deliverables", "live")
    assert 'name="title"' in page and 'maxlength="120"' in page and "field-error" not in page


# --- the invitation form on the campaign page --------------------------------------------------
@pytest.fixture
def campaign(buyer):
    listed_creator("ana.cooks")
    user, brand = buyer
    return make_campaign(user, brand)


INVITE = {"action": "invite", "creator": "ana.cooks", "fee": "400", "message": "Would love to work with you"}


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"fee": "9" * 5000}, "fee", "That amount is too large."),
    ({"fee": "abc"}, "fee", "'abc' is not an amount of money."),
    ({"fee": ""}, "fee", "Give an amount, e.g. 400."),
    ({"fee": "1"}, "fee", "A fee is between"),
    ({"fee": "3000"}, "fee", "The fee is more than the campaign's budget."),
    ({"creator": "ana\x00cooks"}, "creator", NUL),
    ({"creator": "nobody.here"}, "creator", "No creator with this handle."),
    ({"message": "hi\x00there"}, "message", NUL),
    ({"message": "m" * 2001}, "message", "At most 2,000 characters."),
])
def test_a_refused_invitation_keeps_what_was_typed_and_says_why_next_to_the_field(
        campaign, client, nothing_changed, change, field, message):
    sent = {**INVITE, **change}
    with nothing_changed():
        page = refused(client.post(f"/marketplace/campaigns/{campaign['id']}/", sent), field, message)
    for name in ("creator", "fee", "message"):
        if "\x00" not in sent[name] and sent[name]:
            assert kept(page, sent[name]), name
    assert "Summer launch" in page and 'id="campaign-report"' in page  # the whole page, not a stub
    assert not Invitation.objects.exists()


def test_an_unverified_brand_is_told_above_the_invitation_form_and_keeps_it(buyer, client, nothing_changed):
    listed_creator("ana.cooks")
    user, brand = buyer
    campaign = make_campaign(user, brand)
    Brand.objects.filter(pk=brand.pk).update(verified_at=None)
    with nothing_changed():
        response = client.post(f"/marketplace/campaigns/{campaign['id']}/", INVITE)
    page = response.content.decode()
    assert response.status_code == 200 and "is not verified yet" in form_error(page)
    assert all(kept(page, INVITE[name]) for name in ("creator", "fee", "message"))


def test_an_invitation_is_sent_and_the_page_moves_on(campaign, client):
    response = client.post(f"/marketplace/campaigns/{campaign['id']}/", INVITE)
    assert response.status_code == 302 and response["Location"] == f"/marketplace/campaigns/{campaign['id']}/"
    assert Invitation.objects.get().message == "Would love to work with you"


@pytest.mark.parametrize("invitation", ["abc", "9" * 30, "", "1\x00"])
def test_counter_offer_buttons_with_a_bad_invitation_id_change_nothing(campaign, client, nothing_changed,
                                                                       invitation):
    with nothing_changed():
        for action in ("accept-counter", "decline-counter"):
            response = client.post(f"/marketplace/campaigns/{campaign['id']}/",
                                   {"action": action, "invitation": invitation})
            assert response.status_code == 302


def test_a_refused_counter_offer_keeps_the_fee_next_to_its_message(campaign, buyer, client, nothing_changed):
    user, _ = buyer
    inv_id = invite(user, campaign["id"], "ana.cooks", 40_000).json()["id"]
    creator = Invitation.objects.get(pk=inv_id).creator
    client.force_login(creator.user)
    for fee, message in (("9" * 5000, "That amount is too large."), ("0.001", "at most 2 decimals")):
        with nothing_changed():
            page = refused(client.post(f"/marketplace/invitations/{inv_id}/", {"action": "counter", "fee": fee}),
                           "fee", message)
        assert kept(page, fee)
    assert Invitation.objects.get(pk=inv_id).state == "pending"


# --- the collaboration page ---------------------------------------------------------------------
@pytest.fixture
def collaboration(buyer, fake_stripe):
    creator = listed_creator("ana.cooks")
    user, brand = buyer
    return funded_collaboration(user, brand, creator), creator


@pytest.mark.parametrize(("url", "message"), [
    ("not a link", "Give the video's link (http or https)."),
    ("https://video.example.com/" + "v" * 600, "At most 500 characters."),
    ("https://video.example.com/\x00", NUL),
    ("", "Give the video's link (http or https)."),
])
def test_a_refused_deliverable_keeps_the_link_and_says_why(collaboration, client, nothing_changed, url, message):
    collab_id, creator = collaboration
    client.force_login(creator.user)
    with nothing_changed():
        page = refused(client.post(f"/marketplace/collaborations/{collab_id}/", {"action": "submit", "url": url}),
                       "url", message)
    if url and "\x00" not in url:
        assert kept(page, url)
    assert Collaboration.objects.get(pk=collab_id).state == "funded"


@pytest.mark.parametrize(("note", "message"), [("Shorter\x00please", NUL), ("n" * 2001, "At most 2,000 characters.")])
def test_a_refused_revision_note_keeps_the_note_and_says_why(collaboration, client, nothing_changed, note, message):
    collab_id, creator = collaboration
    assert submit(creator, collab_id).status_code == 200
    with nothing_changed():
        page = refused(client.post(f"/marketplace/collaborations/{collab_id}/", {"action": "revision", "note": note}),
                       "note", message)
    if "\x00" not in note:
        assert kept(page, note)
    assert Collaboration.objects.get(pk=collab_id).state == "submitted"


@pytest.mark.parametrize(("body", "message"), [
    ("Hello\x00there", NUL), ("b" * 2001, "At most 2,000 characters."), ("   ", "Write a message."),
])
def test_a_refused_message_keeps_the_text_and_says_why(buyer, client, nothing_changed, body, message):
    user, brand = buyer
    collab_id = accepted_collaboration(user, brand, listed_creator("ana.cooks"))
    client.get(f"/marketplace/collaborations/{collab_id}/")  # the page opens its escrow account once
    with nothing_changed():
        page = refused(client.post(f"/marketplace/collaborations/{collab_id}/", {"action": "message", "body": body}),
                       "body", message)
    if "\x00" not in body and body.strip():
        assert kept(page, body)


def test_a_message_is_sent_and_the_page_moves_on(buyer, client):
    user, brand = buyer
    collab_id = accepted_collaboration(user, brand, listed_creator("ana.cooks"))
    response = client.post(f"/marketplace/collaborations/{collab_id}/", {"action": "message", "body": "Hi Ana"})
    assert response.status_code == 302
    assert Collaboration.objects.get(pk=collab_id).messages.get().body == "Hi Ana"


def test_a_cancel_with_a_bad_reason_changes_nothing(buyer, client, nothing_changed):
    user, brand = buyer
    collab_id = accepted_collaboration(user, brand, listed_creator("ana.cooks"))
    client.get(f"/marketplace/collaborations/{collab_id}/")  # the page opens its escrow account once
    with nothing_changed():
        for reason in ("x\x00", "r" * 501):
            response = client.post(f"/marketplace/collaborations/{collab_id}/",
                                   {"action": "cancel", "reason": reason}, follow=True)
            assert response.status_code == 200
    assert Collaboration.objects.get(pk=collab_id).state == "pending_funding"


# --- shortlists, brands, the team, the creator's rates ------------------------------------------
@pytest.mark.parametrize(("change", "field", "message"), [
    ({"name": "n" * 121}, "name", "At most 120 characters."),
    ({"name": "Sum\x00mer"}, "name", NUL),
    ({"name": "  "}, "name", "Give the shortlist a name."),
    ({"brand": "abc"}, "brand", "Choose one of your brands."),
])
def test_a_refused_shortlist_keeps_the_name_and_says_why(buyer, client, nothing_changed, change, field, message):
    _, brand = buyer
    sent = {"brand": brand.pk, "name": "Summer", **change}
    with nothing_changed():
        page = refused(client.post("/marketplace/shortlists/", sent), field, message)
    if "\x00" not in sent["name"] and sent["name"].strip():
        assert kept(page, sent["name"])


@pytest.mark.parametrize(("name", "message"), [("n" * 121, "At most 120 characters."), ("A\x00", NUL)])
def test_a_refused_rename_keeps_the_new_name_and_the_old_one_stays(buyer, client, nothing_changed, name, message):
    user, brand = buyer
    shortlist = services.shortlist_create(brand=brand, actor=user, name="Summer")
    with nothing_changed():
        page = refused(client.post(f"/marketplace/shortlists/{shortlist.pk}/", {"action": "rename", "name": name}),
                       "name", message)
    if "\x00" not in name:
        assert kept(page, name)
    assert Shortlist.objects.get(pk=shortlist.pk).name == "Summer"


def test_adding_or_removing_a_handle_with_nul_says_so_and_changes_nothing(buyer, client, nothing_changed):
    user, brand = buyer
    listed_creator("ana.cooks")
    shortlist = services.shortlist_create(brand=brand, actor=user, name="Summer")
    with nothing_changed():
        added = client.post("/marketplace/shortlists/add/", {"shortlist": shortlist.pk, "handle": "ana\x00"},
                            follow=True)
        removed = client.post(f"/marketplace/shortlists/{shortlist.pk}/", {"action": "remove", "handle": "ana\x00"},
                              follow=True)
    for response in (added, removed):
        assert response.status_code == 200 and NUL in response.content.decode()


@pytest.mark.parametrize(("name", "message"), [("b" * 121, "At most 120 characters."), ("Acme\x00", NUL),
                                               (" ", "Enter the brand's name.")])
def test_a_refused_brand_keeps_the_name_and_says_why(db, client, nothing_changed, name, message):
    client.force_login(make_creator("owner.one").user)
    with nothing_changed():
        page = refused(client.post("/marketplace/brands/", {"name": name}), "name", message)
    if "\x00" not in name and name.strip():
        assert kept(page, name)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"username": "pal\x00"}, "username", NUL),
    ({"username": "nobody"}, "username", "No user with this username."),
    ({"role": "boss"}, "role", "Choose owner or manager."),
])
def test_a_refused_team_member_keeps_the_form_and_says_why(buyer, client, nothing_changed, change, field, message):
    _, brand = buyer
    sent = {"username": "nobody", "role": "owner", **change}
    with nothing_changed():
        page = refused(client.post(f"/marketplace/brands/{brand.pk}/", sent), field, message)
    if "\x00" not in sent["username"]:
        assert kept(page, sent["username"])
    if sent["role"] == "owner":
        assert selected(page, "owner")


def test_a_creator_rate_of_5000_digits_is_a_message_next_to_the_rate(db, client, nothing_changed):
    seed_defaults()
    creator = make_creator("seoul.eats", country="KR", followers=60_000)
    enroll(creator, "marketplace")
    client.force_login(creator.user)
    sent = {"bio": "Street food", "categories": ["food"], "languages": "ko, en", "country": "KR",
            "rate_video": "9" * 5000, "rate_live": "250"}
    with nothing_changed():
        page = refused(client.post("/marketplace/profile/", sent), "rate_video", "That amount is too large.")
    assert kept(page, "9" * 5000) and kept(page, "250") and kept(page, "Street food")
    # A group of checkboxes is named by a fieldset's legend (a label "for" nothing names nothing).
    assert 'for=""' not in page and re.search(r'<fieldset class="field group">\s*<legend>Categories</legend>', page)


# --- the services, for every caller ------------------------------------------------------------
def _fields(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def test_the_services_refuse_nul_and_overlong_text_per_field(buyer, nothing_changed):
    user, brand = buyer
    creator = listed_creator("ana.cooks")
    shortlist = services.shortlist_create(brand=brand, actor=user, name="Summer")
    campaign = campaigns.campaign_create(
        brand=brand, actor=user, title="Summer launch", brief="", deliverables=["video"], budget=Money(200_000, "USD"),
        deadline=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30))
    good = {"brand": brand, "actor": user, "title": "T", "brief": "", "deliverables": ["video"],
            "budget": Money(200_000, "USD"), "deadline": campaign.deadline}
    with nothing_changed():
        assert _fields(lambda: services.shortlist_create(brand=brand, actor=user, name="n" * 121)) == {
            "name": ["At most 120 characters."]}
        assert _fields(lambda: services.shortlist_rename(shortlist=shortlist, actor=user, name="a\x00")) == {
            "name": [NUL]}
        assert _fields(lambda: services.shortlist_add(shortlist=shortlist, actor=user, handle="ana\x00")) == {
            "handle": [NUL]}
        assert _fields(lambda: services.shortlist_remove(shortlist=shortlist, actor=user, handle="ana\x00")) == {
            "handle": [NUL]}
        assert _fields(lambda: account_services.brand_create(user=user, name="b" * 121)) == {
            "name": ["At most 120 characters."]}
        assert _fields(lambda: account_services.brand_create(user=user, name="b\x00")) == {"name": [NUL]}
        assert _fields(lambda: account_services.brand_member_add(brand=brand, actor=user, username="x\x00",
                                                                 role="manager")) == {"username": [NUL]}
        assert _fields(lambda: campaigns.campaign_create(**{**good, "title": "t" * 121, "brief": "b\x00"})) == {
            "title": ["At most 120 characters."], "brief": [NUL]}
        assert _fields(lambda: campaigns.campaign_update(campaign=campaign, actor=user, title="t\x00")) == {
            "title": [NUL]}
        assert _fields(lambda: campaigns.invitation_create(campaign=campaign, actor=user, handle="ana\x00",
                                                           fee=Money(40_000, "USD"), message="m\x00")) == {
            "creator": [NUL], "message": [NUL]}
        assert _fields(lambda: campaigns.invitation_create(campaign=campaign, actor=user, handle=creator.handle,
                                                           fee=Money(40_000, "USD"), message="m" * 2001)) == {
            "message": ["At most 2,000 characters."]}
    assert Shortlist.objects.get(pk=shortlist.pk).name == "Summer"
    assert Campaign.objects.get(pk=campaign.pk).title == "Summer launch"


def test_the_api_keeps_its_own_errors_for_the_same_input(buyer, nothing_changed):
    user, brand = buyer
    with nothing_changed():
        response = post(user, "campaigns/", {"brand": brand.pk, "title": "t" * 121, "deliverables": ["video"],
                                             "budget": usd(200_000), "deadline": FUTURE + "T12:00:00Z"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid" and "title" in response.json()["error"]["fields"]
        response = post(user, "brands/", {"name": "b\x00"})
        assert response.status_code == 400 and response.json()["error"]["fields"] == {"name": [NUL]}
