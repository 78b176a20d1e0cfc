"""`make run`'s demo creator meets every default rule and is enrolled everywhere; seeding twice is safe."""

from __future__ import annotations

import pytest

from creatornext.accounts.demo import DEMO_HANDLE, seed_demo
from creatornext.accounts.models import CreatorProfile
from creatornext.audit.models import AuditEvent
from eligibility import services
from eligibility.models import Enrollment, MetricsSnapshot
from tests.eligibility.helpers import eligibility

pytestmark = pytest.mark.django_db


def test_demo_creator_is_enrolled_in_every_program_and_seeding_twice_changes_nothing():
    seed_demo()
    creator = CreatorProfile.objects.select_related("user").get(handle=DEMO_HANDLE)
    items = eligibility(creator)
    assert {p: (i["status"], i["eligible"]) for p, i in items.items()} == {
        p: ("enrolled", True) for p in ("creator-next", "tips", "video-gifts", "live-gifts", "marketplace")}
    assert all(r["met"] for i in items.values() for r in i["requirements"])
    for program in items:
        services.require_enrolled(creator, program)

    counts = (Enrollment.objects.count(), MetricsSnapshot.objects.count(), AuditEvent.objects.count())
    assert seed_demo() == []
    assert (Enrollment.objects.count(), MetricsSnapshot.objects.count(), AuditEvent.objects.count()) == counts
