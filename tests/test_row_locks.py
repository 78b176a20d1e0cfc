"""Row locks never block other transactions' foreign-key checks (docs/decisions/0017-row-locks.md).

The R14 soak found deadlocks: a cap check locked a user row ``FOR UPDATE`` (redemptions, tips,
coin purchases), while a gift send or tip that had already updated the creator's ledger account
needed a ``KEY SHARE`` lock on that same user row for its foreign-key checks at commit.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from django.db import transaction

from eligibility.defaults import seed_defaults
from gifts import services as gifts
from gifts.defaults import seed_catalog
from gifts.models import GiftSend, Redemption, Video
from tests.eligibility.helpers import enroll, make_creator
from tests.gifts.conftest import gift_id
from tests.support.concurrency import failures_of
from tests.support.ledger import give_coins, give_diamonds
from tests.support.world import make_user

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.django_db(transaction=True)
def test_a_gift_send_committing_while_its_creator_redeems_does_not_deadlock():
    seed_defaults()
    seed_catalog()
    creator = make_creator("maya.makes")
    enroll(creator, "creator-next", "video-gifts")
    video = Video.objects.create(creator=creator, kind="original", title="Kiln")
    fan = make_user("fan")
    give_coins(fan, 100)
    give_diamonds(creator.user, 10_000)
    sent = threading.Event()

    def gift():  # holds the creator's diamonds row, then commits (foreign-key checks on users)
        with transaction.atomic():
            gifts.gift_send(fan=fan, creator="maya.makes", gift=gift_id("Rose"), quantity=1, video=video.pk)
            sent.set()
            time.sleep(1.5)  # the redemption below now holds its user-row lock and waits for us

    def redeem():  # locks the creator's user row (daily cap), then needs the diamonds row
        sent.wait(10)
        gifts.redemption_create(creator=creator, diamonds=2_000)

    failures = failures_of(gift, redeem)
    assert failures == []  # before: "deadlock detected" in one of them
    assert GiftSend.objects.count() == 1 and Redemption.objects.count() == 1


def test_every_row_lock_is_for_no_key_update():
    """The rule in one place: a ``FOR UPDATE`` lock anywhere brings the deadlock back."""
    offenders = []
    for path in REPO.glob("**/*.py"):
        if any(part in {".venv", "tests", "migrations", "bench"} for part in path.relative_to(REPO).parts):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for found in re.finditer(r"select_for_update\(", line):
                if "no_key=True" not in line[found.end():]:  # the call's arguments, on its line
                    offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert offenders == []
