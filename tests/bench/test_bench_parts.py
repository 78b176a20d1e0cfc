"""Pieces of the harness that the smoke run does not reach, tested in milliseconds (no database).

- The events ``tip-webhooks`` builds and signs are accepted by the app's own verification, and
  carry the fee where the app reads it (so no provider call is needed).
- The migrated-template cache is keyed by everything migrations depend on, and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.database import schema_fingerprint
from bench.webhook_sender import sign
from bench.workloads.tip_webhooks import SECRET, event
from creatornext.payments import webhooks


def test_bench_events_are_verified_by_the_app_and_carry_the_fee(settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_old_one", SECRET]
    payload = event(42, 1_000, 59).encode()

    verified = webhooks.verify(payload, sign(payload, SECRET))

    assert verified is not None and verified["type"] == "payment_intent.succeeded"
    obj = verified["data"]["object"]
    assert obj["metadata"]["payment_id"] == "42"
    assert webhooks._fee(obj["latest_charge"]) == 59
    # and what the provider would refuse, the app refuses too
    assert webhooks.verify(payload, sign(payload, "whsec_wrong")) is None
    assert webhooks.verify(payload + b" ", sign(payload, SECRET)) is None
    assert json.loads(payload)["id"] == "evt_bench_42"


def test_template_cache_key_follows_migrations_and_what_they_import(tmp_path: Path):
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "seeding.py").write_text("ROWS = 1\n")
    (app / "views.py").write_text("X = 1\n")
    (app / "migrations" / "0001_initial.py").write_text("from shop.seeding import ROWS\n")
    first = schema_fingerprint(tmp_path)

    (app / "views.py").write_text("X = 2\n")  # not a migration's concern
    assert schema_fingerprint(tmp_path) == first

    (app / "seeding.py").write_text("ROWS = 2\n")  # a data migration's input
    second = schema_fingerprint(tmp_path)
    assert second != first

    (app / "migrations" / "0002_more.py").write_text("")
    assert schema_fingerprint(tmp_path) not in (first, second)
