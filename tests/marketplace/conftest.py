import pytest

from eligibility.defaults import seed_defaults


@pytest.fixture(autouse=True)
def _default_programs(request):
    # Transactional tests elsewhere empty the tables the data migration filled: put the defaults back.
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("_django_db_helper")
        seed_defaults()
