"""The listed flag PostgreSQL keeps on each profile's card (migration 0007) equals the rule it
copies — eligibility's enrolments and the account (``selectors.listed``) — after every change
that can move it, through the services and behind their backs (bulk updates, deletes); and the
walk table's rows (migration 0009) copy the flag and the profile's walked columns."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from creatornext.accounts.models import User
from creatornext.accounts.services import account_delete
from eligibility import services as eligibility_services
from eligibility.models import Enrollment, Program
from marketplace import selectors, services
from marketplace.models import MarketplaceProfile
from tests.eligibility.helpers import enroll
from tests.marketplace.helpers import listed_creator, set_followers

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the flag is PostgreSQL's"),
]


def flags() -> dict[str, bool]:
    """handle → the card's flag, for every profile."""
    with connection.cursor() as cur:
        cur.execute("SELECT p.handle, c.listed FROM marketplace_marketplaceprofile p "
                    "JOIN marketplace_profilecard c ON c.profile_id = p.id")
        return dict(cur.fetchall())


WALKED = "followers, avg_views, engagement_rate_bps, country, facet_codes"


def walk_rows() -> list[tuple]:
    """The walk table's rows, each checked against its profile and card: one per profile, with
    the card's flag and the profile's walked columns."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT p.id, c.listed, {', '.join('p.' + c for c in WALKED.split(', '))} "
                    "FROM marketplace_marketplaceprofile p JOIN marketplace_profilecard c "
                    "ON c.profile_id = p.id ORDER BY p.id")
        expected = cur.fetchall()
        cur.execute(f"SELECT id, listed, {WALKED} FROM {selectors.WALK_TABLE} ORDER BY id")
        rows = cur.fetchall()
    assert rows == expected
    return rows


def shown() -> set[str]:
    """The handles the rule itself (the ORM's probe) lists; each flag must say the same."""
    listed = set(selectors.listed().values_list("handle", flat=True))
    assert flags() == {h: h in listed for h in MarketplaceProfile.objects.values_list("handle", flat=True)}
    walk_rows()
    return listed


def enrollment_of(creator, program: str = "marketplace"):
    return Enrollment.objects.filter(creator=creator, program__slug=program)


def test_the_flag_follows_every_change_of_enrolment_account_and_program():
    ana = listed_creator("ana")
    bo = listed_creator("bo")
    waiting = listed_creator("waiting", enrolled=False)  # metrics only: a profile, no enrolment
    assert shown() == {"ana", "bo"}

    enroll(waiting, "marketplace")
    assert shown() == {"ana", "bo", "waiting"}

    set_followers(bo, 9_999)  # below the gate: re-evaluation pauses the program
    assert shown() == {"ana", "waiting"}
    set_followers(bo, 12_000)
    assert shown() == {"ana", "bo", "waiting"}

    eligibility_services.enrollment_opt_out(creator=ana, program="marketplace", actor=ana.user)
    assert shown() == {"bo", "waiting"}

    # behind the services' backs: a bulk update, a deleted enrolment, another program's enrolment
    enrollment_of(bo).update(status=Enrollment.Status.PAUSED)
    assert shown() == {"waiting"}
    enrollment_of(bo).update(status=Enrollment.Status.ENROLLED)
    assert shown() == {"bo", "waiting"}
    enrollment_of(ana).update(program=Program.objects.get(slug="tips"))  # another program's enrolment
    enrollment_of(ana, "tips").update(status=Enrollment.Status.ENROLLED)
    assert shown() == {"bo", "waiting"}
    enrollment_of(ana, "tips").update(program=Program.objects.get(slug="marketplace"))
    assert shown() == {"ana", "bo", "waiting"}
    enrollment_of(ana).update(status=Enrollment.Status.REVOKED)
    enrollment_of(waiting).delete()
    assert shown() == {"bo"}

    # an enrolment moved to another creator lists the one and unlists the other
    enrollment_of(bo).update(creator=waiting)
    assert shown() == {"waiting"}
    enrollment_of(waiting).update(creator=bo)
    assert shown() == {"bo"}

    # the account: deleted (its profile takes the pseudonym at once), and (by hand) restored
    account_delete(user=bo.user, actor=bo.user)
    assert shown() == set()
    bo_now = f"deleted-{bo.user_id}"
    User.objects.filter(pk=bo.user_id).update(deleted_at=None)
    assert shown() == {bo_now}
    User.objects.filter(pk=bo.user_id).update(deleted_at=timezone.now())
    assert shown() == set()
    User.objects.filter(pk=bo.user_id).update(deleted_at=None)

    # the program's slug is what the rule names
    Program.objects.filter(slug="marketplace").update(slug="renamed")
    assert shown() == set()
    Program.objects.filter(slug="renamed").update(slug="marketplace")
    assert shown() == {bo_now}

    # profile writes (the metrics feed, the editor, the copies' sync) keep it
    services.metrics_update(creator=bo, actor=None, avg_views=5, engagement_rate_bps=1,
                            audience_countries={}, audience_genders={}, audience_ages={})
    services.profiles_sync()
    assert shown() == {bo_now}

@pytest.mark.django_db(transaction=True)
def test_a_profile_write_waiting_on_an_enrolment_change_writes_the_flag_that_change_left():
    """The card row is locked by the enrolment change; the profile write that waited for it
    computes the flag after the wait (in its SET), not from its snapshot from before."""
    creator = listed_creator("racer")
    assert shown() == {"racer"}
    changed, finished = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def pause_and_hold() -> None:
        try:
            with transaction.atomic():
                enrollment_of(creator).update(status=Enrollment.Status.PAUSED)  # locks the card row
                changed.set()
                finished.wait(timeout=2)  # the profile write below is waiting on the card row now
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            changed.set()
            connection.close()

    holder = threading.Thread(target=pause_and_hold)
    holder.start()
    assert changed.wait(timeout=10)

    def write_profile() -> None:
        try:
            MarketplaceProfile.objects.filter(creator=creator).update(avg_views=77)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=write_profile)
    writer.start()
    writer.join(timeout=0.5)
    assert writer.is_alive(), "the profile write should wait for the card row"
    finished.set()
    holder.join(timeout=10)
    writer.join(timeout=10)
    assert not errors
    assert MarketplaceProfile.objects.get(creator=creator).avg_views == 77
    assert shown() == set()


def test_the_walk_rows_follow_metrics_and_leave_with_their_profile():
    ana = listed_creator("ana", followers=20_000, categories=("food",))
    bo = listed_creator("bo", followers=30_000, categories=("travel",))
    assert len(walk_rows()) == 2
    set_followers(ana, 45_000)
    services.profiles_sync()  # the profile's copy of the creator's followers
    services.metrics_update(creator=bo, actor=None, avg_views=9_000, engagement_rate_bps=700,
                            audience_countries={"BR": 60}, audience_genders={}, audience_ages={})
    profile = MarketplaceProfile.objects.get(creator=bo)
    profile.categories = ["gaming"]
    profile.facets = services.facets_of(profile)
    profile.save()
    rows = {row[0]: row for row in walk_rows()}
    assert rows[MarketplaceProfile.objects.get(creator=ana).pk][2] == 45_000
    assert rows[profile.pk][3:5] == (9_000, 700)
    # What search answers from those rows (no text: the walk table in followers order).
    assert [c["handle"] for c in selectors_page(min_followers=40_000)] == ["ana"]
    assert [c["handle"] for c in selectors_page(category="gaming", audience_country="BR",
                                                audience_country_min_pct=55)] == ["bo"]
    assert selectors_page(category="travel") == []

    MarketplaceProfile.objects.filter(creator=bo).delete()  # the walk must not find a profile gone
    assert len(walk_rows()) == 1 and selectors_page(min_avg_views=5_000) == []
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys' checks, due at commit
        cur.execute("TRUNCATE marketplace_marketplaceprofile")  # as a test flush does
        cur.execute(f"SELECT (SELECT count(*) FROM {selectors.WALK_TABLE}), "
                    "(SELECT count(*) FROM marketplace_profilecard)")
        assert cur.fetchone() == (0, 0)


def selectors_page(**query) -> list[dict]:
    """A first page as the API answers it, without a request (``api.run_search``)."""
    import json

    from marketplace.api import run_search

    _, page = run_search({k: str(v) for k, v in query.items()})
    return [json.loads(card) for card in page.results]
