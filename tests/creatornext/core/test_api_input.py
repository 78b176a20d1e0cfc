"""StrictInputSerializer's plain path: a JSON object whose values are exactly what plain fields
declare is validated without DRF's field-by-field machinery — and gives what DRF gives.

Differential: for every API input serializer the plain path applies to, random objects (right
and wrong types, bounds, odd text, missing and extra keys) either fall back to DRF (None) or
get exactly DRF's validated value.
"""

import importlib
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from creatornext.core.api import StrictInputSerializer, _plain_values


def _all_input_serializers() -> list[type[StrictInputSerializer]]:
    for package in ("creatornext", "gifts", "tips", "marketplace", "eligibility"):
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            if module.name.endswith((".api", ".serializers")):
                importlib.import_module(module.name)
    found, todo = [], list(StrictInputSerializer.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__qualname__)


SERIALIZERS = _all_input_serializers()
PLAIN = [cls for cls in SERIALIZERS if cls()._plain_plan() is not None]


def test_the_gift_sends_input_takes_the_plain_path_and_so_do_most_inputs():
    from gifts.api import GiftSendCreateApi

    assert GiftSendCreateApi.InputSerializer in PLAIN
    assert len(PLAIN) >= 10, [c.__qualname__ for c in PLAIN]


def _values(low: int | None, high: int | None) -> st.SearchStrategy:
    edges = [v for b in (low, high) if b is not None for v in (b - 1, b, b + 1)]
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.sampled_from(edges or [0]), st.floats(allow_nan=False),
        st.text(max_size=30), st.text(alphabet=st.characters(codec="ascii"), min_size=0, max_size=30),
        st.sampled_from(["", " ", "a\x00b", "\ud800", "ü", "x" * 24, "x" * 25, "5", "1e3"]),
        st.lists(st.integers(), max_size=2),
    )


@st.composite
def _case(draw):
    cls = draw(st.sampled_from(PLAIN))
    serializer = cls()
    data = {}
    for field in serializer._plain_plan():
        if draw(st.integers(0, 4)):  # sometimes missing
            data[field.name] = draw(_values(field.low, field.high))
    if draw(st.booleans()):
        data["unknown_key"] = draw(st.integers())
    return serializer, data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_the_plain_path_gives_exactly_what_drf_gives_or_leaves_it_to_drf(case):
    serializer, data = case
    plain = _plain_values(serializer._plain_plan(), data)
    try:
        drf = serializers.Serializer.run_validation(serializer, data)  # DRF's way (and the strict type checks)
    except serializers.ValidationError:
        drf = None
    if plain is not None:
        assert drf == plain
    assert serializer.run_validation(data) == drf if drf is not None else plain is None


def test_a_serializer_with_its_own_rules_always_takes_drfs_way():
    from django.core.validators import MaxLengthValidator

    class Checked(StrictInputSerializer):
        name = serializers.CharField(max_length=24)

        def validate_name(self, value):
            raise serializers.ValidationError("never")

    class Narrow(StrictInputSerializer):
        name = serializers.CharField(max_length=24, validators=[MaxLengthValidator(3)])

    class Choice(StrictInputSerializer):
        kind = serializers.ChoiceField(choices=["a"])

    for cls in (Checked, Narrow, Choice):
        assert cls()._plain_plan() is None
    with pytest.raises(serializers.ValidationError):
        Checked().run_validation({"name": "abc"})
    with pytest.raises(serializers.ValidationError):
        Narrow().run_validation({"name": "abcd"})  # the plain path would have let 4 ≤ 24 through
