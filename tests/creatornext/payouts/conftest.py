import pytest

from tests.support import connect
from tests.support.ledger import give_available_cash
from tests.support.world import api_client


@pytest.fixture
def stand_in(fake_stripe, settings):
    """The Connect stand-in, emptied, with short client timeouts."""
    settings.STRIPE_CONNECT_TIMEOUT_SECONDS = 1.5
    connect.reset()
    yield connect
    connect.reset()


@pytest.fixture
def creator(db, stand_in):
    from tests.eligibility.helpers import make_creator

    profile = make_creator("maya.makes")
    connect.enabled_account(profile.user)
    return profile.user


@pytest.fixture
def funded(creator):
    give_available_cash(creator, 500_000)
    api_client(creator)
    return creator
