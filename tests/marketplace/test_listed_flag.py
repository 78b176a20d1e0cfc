"""The listed flag PostgreSQL keeps on each profile's card (migration 0007) equals the rule it
copies — eligibility's enrolments and the account (``selectors.listed``) — after every change
that can move it, through the services and behind their backs (bulk updates, deletes)."""

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


def shown() -> set[str]:
    """The handles the rule itself (the ORM's probe) lists; each flag must say the same."""
    listed = set(selectors.listed().values_list("handle", flat=True))
    assert flags() == {h: h in listed for h in MarketplaceProfile.objects.values_list("handle", flat=True)}
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

    # the account: deleted, and (by hand) restored
    account_delete(user=bo.user, actor=bo.user)
    assert shown() == set()
    User.objects.filter(pk=bo.user_id).update(deleted_at=None)
    assert shown() == {"bo"}
    User.objects.filter(pk=bo.user_id).update(deleted_at=timezone.now())
    assert shown() == set()
    User.objects.filter(pk=bo.user_id).update(deleted_at=None)

    # the program's slug is what the rule names
    Program.objects.filter(slug="marketplace").update(slug="renamed")
    assert shown() == set()
    Program.objects.filter(slug="renamed").update(slug="marketplace")
    assert shown() == {"bo"}

    # profile writes (the metrics feed, the editor, the copies' sync) keep it
    services.metrics_update(creator=bo, actor=None, avg_views=5, engagement_rate_bps=1,
                            audience_countries={}, audience_genders={}, audience_ages={})
    services.profiles_sync()
    assert shown() == {f"deleted-{bo.user_id}"}  # the profile copies the deletion's pseudonym


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
