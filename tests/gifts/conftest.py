import pytest

from gifts.models import Gift, Video
from tests.eligibility.helpers import enroll, make_creator
from tests.support.ledger import give_coins
from tests.support.world import api_client, make_user


@pytest.fixture
def creator(db):
    profile = make_creator("maya.makes")
    enroll(profile, "creator-next", "video-gifts")
    return profile


@pytest.fixture
def video(creator):
    return Video.objects.create(creator=creator, kind="original", title="Throwing a vase")


@pytest.fixture
def fan(db):
    user = make_user("fan")
    api_client(user)
    give_coins(user, 1000)
    return user


def gift_id(name):
    return Gift.objects.get(name=name).pk


@pytest.fixture
def send():
    counter = {"n": 0}

    def _send(user, video, gift="Rose", quantity=1, **extra):
        counter["n"] += 1
        body = {"creator": video.creator.handle, "gift": gift_id(gift), "quantity": quantity,
                "video": video.pk, **extra}
        return api_client(user).post("/api/v1/gift-sends/", body, format="json",
                                     HTTP_IDEMPOTENCY_KEY=f"gift-{counter['n']}")
    return _send
