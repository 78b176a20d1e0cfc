"""The authorisation matrix (TARGETS R10): every endpoint × every role → the exact status.

Each feature adds its endpoints here. ``tests/test_authorization_matrix.py`` fails for any endpoint
the URL configuration serves that has no entry, and checks every cell against the live app.

Statuses follow API.md: 401 without credentials, 403 for a role that may not use the endpoint,
404 for another user's or brand's private object (never 403), and the success code otherwise.
A cell may name the request body to send (``body``) and URL kwargs come from the ``world``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("anonymous", "fan", "creator", "other_creator", "brand_member", "other_brand_member",
         "staff")


@dataclass(frozen=True)
class Entry:
    # method → role → expected status
    cells: dict[str, dict[str, int]]
    # URL kwargs from the world (objects owned by "creator", "brand_member", ...)
    kwargs: Callable[[Any], dict[str, Any]] = field(default=lambda world: {})
    # request body per method, from the world and the role
    body: Callable[[Any, str, str], dict[str, Any] | None] = field(default=lambda world, method, role: None)


def every(status: int, **overrides: int) -> dict[str, int]:
    """The same status for every signed-in role, 401 for anonymous, with per-role overrides."""
    cells = {role: status for role in ROLES}
    cells["anonymous"] = 401
    cells.update(overrides)
    return cells


def only(role_status: dict[str, int], default: int) -> dict[str, int]:
    """``default`` for every signed-in role but those named; 401 for anonymous."""
    return every(default, **role_status)


def _all(status: int) -> dict[str, int]:
    return {role: status for role in ROLES}


PASSWORD = "correct horse battery"  # tests.support.world.make_user's


def _current_terms(program: str) -> str:
    from eligibility.selectors import rule_book

    terms = rule_book().get(program).terms
    return terms.version


# The world's creators (born 1990, good standing, personal accounts) qualify for live-gifts.
METRICS_BODY = {"followers": 12_000, "views_30d": 5_000, "posts_30d": 4,
                "account_created_at": "2024-01-01T00:00:00Z", "account_type": "personal",
                "standing": "good", "fraud_flag": False}

MATRIX: dict[str, Entry] = {
    # --- accounts ---
    "api:auth-register": Entry(
        cells={"POST": _all(201)},
        body=lambda w, m, role: {"username": f"new_{role}", "email": f"new_{role}@example.com",
                                 "password": "a-long-pass-phrase", "date_of_birth": "1990-01-01"}),
    "api:auth-token": Entry(
        cells={"POST": _all(200)},
        body=lambda w, m, role: {"username": "fan", "password": PASSWORD}),
    "api:me": Entry(
        cells={"GET": every(200), "DELETE": every(204)},
        body=lambda w, m, role: {"password": PASSWORD} if m == "DELETE" else None),
    "api:creator-list": Entry(
        # A creator already has a profile: a state conflict.
        cells={"POST": every(201, creator=409, other_creator=409)},
        body=lambda w, m, role: {"handle": f"h_{role}", "country": "US"}),
    "api:creator-detail": Entry(
        cells={"GET": _all(200)},
        kwargs=lambda w: {"handle": w.objects["creator"].handle}),
    "api:brand-list": Entry(
        cells={"GET": every(200), "POST": every(201)},
        body=lambda w, m, role: {"name": f"{role} new brand"} if m == "POST" else None),
    "api:brand-detail": Entry(
        cells={"GET": only({"brand_member": 200}, default=404)},
        kwargs=lambda w: {"brand_id": w.objects["brand_member_brand"].pk}),
    "api:brand-members": Entry(
        cells={"POST": only({"brand_member": 201}, default=404)},
        kwargs=lambda w: {"brand_id": w.objects["brand_member_brand"].pk},
        body=lambda w, m, role: {"username": "fan", "role": "manager"}),
    # --- eligibility ---
    "api:eligibility-list": Entry(cells={"GET": only({"creator": 200, "other_creator": 200}, default=403)}),
    "api:program-opt-in": Entry(
        cells={"POST": only({"creator": 200, "other_creator": 200}, default=403)},
        kwargs=lambda w: {"program": "live-gifts"},
        body=lambda w, m, role: {"terms_version": _current_terms("live-gifts")}),
    "api:program-opt-out": Entry(
        cells={"POST": only({"creator": 200, "other_creator": 200}, default=403)},
        kwargs=lambda w: {"program": "live-gifts"}),
    "api:creator-metrics": Entry(
        cells={"PUT": only({"staff": 200}, default=403)},
        kwargs=lambda w: {"handle": w.objects["creator"].handle},
        body=lambda w, m, role: METRICS_BODY),
    # --- payments: the provider's webhook; every caller without a valid signature gets 400 ---
    "webhooks:stripe": Entry(cells={"POST": _all(400)}),
    # --- ledger ---
    "api:wallet": Entry(cells={"GET": every(200)}),
    "api:wallet-statement": Entry(cells={"GET": every(200)}),
    # --- tips and blocks ---
    "api:tip-list": Entry(
        # The world's creator is not enrolled (409); tipping yourself is 400; a blocked fan 403.
        cells={"GET": every(200), "POST": every(409, creator=400, other_brand_member=403)},
        body=lambda w, m, role: {"creator": w.objects["creator"].handle, "payment_method": "pm_card_visa",
                                 "amount": {"amount": 500, "currency": "USD"}} if m == "POST" else None),
    "api:tip-detail": Entry(
        cells={"GET": only({"fan": 200, "creator": 200}, default=404)},
        kwargs=lambda w: {"tip_id": w.objects["tip"].pk}),
    "api:tip-refresh": Entry(
        cells={"POST": only({"fan": 200}, default=404)},
        kwargs=lambda w: {"tip_id": w.objects["tip"].pk}),
    "api:tip-refund": Entry(
        # Staff may; this tip has no payment to refund, a state conflict.
        cells={"POST": every(403, staff=409)},
        kwargs=lambda w: {"tip_id": w.objects["tip"].pk}),
    "api:creator-supporters": Entry(
        cells={"GET": _all(200)}, kwargs=lambda w: {"handle": w.objects["creator"].handle}),
    "api:block-list": Entry(
        cells={"POST": every(403, creator=201, other_creator=201)},
        body=lambda w, m, role: {"username": "fan"}),
    "api:block-detail": Entry(
        cells={"DELETE": every(403, creator=204, other_creator=404)},
        kwargs=lambda w: {"username": "other_brand_member"}),
    # --- coins, gifts, videos ---
    "api:coin-pack-list": Entry(cells={"GET": _all(200)}),
    "api:gift-list": Entry(cells={"GET": _all(200)}),
    "api:coin-purchase-refresh": Entry(
        cells={"POST": only({"fan": 200}, default=404)},
        kwargs=lambda w: {"purchase_id": w.objects["coin_purchase"].pk}),
    "api:coin-purchase-list": Entry(
        cells={"POST": every(400)},  # every signed-in role may buy; pack 999999 does not exist
        body=lambda w, m, role: {"pack": 999999, "payment_method": "pm_card_visa"}),
    "api:video-list": Entry(
        cells={"POST": every(403, creator=201, other_creator=201)},
        body=lambda w, m, role: {"kind": "original", "title": "New video"}),
    "api:creator-videos": Entry(
        cells={"GET": _all(200)}, kwargs=lambda w: {"handle": w.objects["creator"].handle}),
    "api:gift-send-list": Entry(
        # The world's creator is not enrolled in video-gifts (409); to yourself 400; blocked 403.
        cells={"POST": every(409, creator=400, other_brand_member=403)},
        body=lambda w, m, role: {"creator": w.objects["creator"].handle, "gift": w.objects["rose"].pk,
                                 "quantity": 1, "video": w.objects["video"].pk}),
    # --- LIVE and redemption ---
    "api:live-stream-list": Entry(
        # Creators may go live; the world's creators are not enrolled in live-gifts (409).
        cells={"POST": every(403, creator=409, other_creator=409)},
        body=lambda w, m, role: {"title": "Going live"}),
    "api:live-stream-detail": Entry(
        cells={"GET": every(403, creator=200, other_creator=404)},
        kwargs=lambda w: {"stream_id": w.objects["stream"].pk}),
    "api:live-stream-end": Entry(
        cells={"POST": every(403, creator=200, other_creator=404)},
        kwargs=lambda w: {"stream_id": w.objects["stream"].pk}),
    "api:live-stream-feed": Entry(
        cells={"GET": _all(200)}, kwargs=lambda w: {"stream_id": w.objects["stream"].pk}),
    "api:redemption-list": Entry(
        # Creators only; with no diamonds the redemption is refused (409).
        cells={"GET": every(403, creator=200, other_creator=200),
               "POST": every(403, creator=409, other_creator=409)},
        body=lambda w, m, role: {"diamonds": 2000} if m == "POST" else None),
    # --- marketplace: search and cards for brand members; the feed for staff; shortlists per brand ---
    "api:marketplace-creator-list": Entry(
        cells={"GET": only({"brand_member": 200, "other_brand_member": 200}, default=403)}),
    "api:marketplace-creator-detail": Entry(
        cells={"GET": only({"brand_member": 200, "other_brand_member": 200}, default=403)},
        kwargs=lambda w: {"handle": w.objects["other_creator"].handle}),
    "api:marketplace-creator-metrics": Entry(
        cells={"PUT": only({"staff": 200}, default=403)},
        kwargs=lambda w: {"handle": w.objects["other_creator"].handle},
        body=lambda w, m, role: {"avg_views": 4_000, "engagement_rate_bps": 520,
                                 "audience": {"countries": {"US": 60}, "genders": {"female": 55},
                                              "ages": {"18-24": 40}}}),
    "api:marketplace-profile": Entry(
        # creator is not enrolled in the marketplace program (409); other_creator is.
        cells={"GET": only({"creator": 200, "other_creator": 200}, default=403),
               "PUT": only({"creator": 409, "other_creator": 200}, default=403)},
        body=lambda w, m, role: {"bio": "Food and travel.", "categories": ["food"], "languages": ["en"],
                                 "country": "US", "rates": {"video": {"amount": 20_000, "currency": "USD"}}}
        if m == "PUT" else None),
    "api:shortlist-list": Entry(
        cells={"GET": only({"brand_member": 200, "other_brand_member": 200}, default=403),
               # other_brand_member names brand_member's brand: not theirs (400)
               "POST": only({"brand_member": 201, "other_brand_member": 400}, default=403)},
        body=lambda w, m, role: {"brand": w.objects["brand_member_brand"].pk, "name": "New list"}
        if m == "POST" else None),
    "api:shortlist-detail": Entry(
        cells={m: only({"brand_member": ok}, default=404) for m, ok in
               (("GET", 200), ("PATCH", 200), ("DELETE", 204))},
        kwargs=lambda w: {"shortlist_id": w.objects["shortlist"].pk},
        body=lambda w, m, role: {"name": "Renamed"} if m == "PATCH" else None),
    "api:shortlist-creators": Entry(
        cells={"POST": only({"brand_member": 201}, default=404)},
        kwargs=lambda w: {"shortlist_id": w.objects["shortlist"].pk},
        body=lambda w, m, role: {"handle": w.objects["other_creator"].handle}),
    "api:shortlist-creator-detail": Entry(
        cells={"DELETE": only({"brand_member": 204}, default=404)},
        kwargs=lambda w: {"shortlist_id": w.objects["shortlist"].pk, "handle": w.objects["creator"].handle}),
    # --- marketplace: campaigns, invitations, collaborations (world: tests/support/world._campaigns).
    # A brand's objects are its members' and the invited creator's only (404 for anyone else); a
    # party using the other party's action gets 403.
    "api:campaign-list": Entry(
        cells={"GET": only({"brand_member": 200, "other_brand_member": 200}, default=403),
               # other_brand_member names brand_member's brand: not theirs (400)
               "POST": only({"brand_member": 201, "other_brand_member": 400}, default=403)},
        body=lambda w, m, role: {"brand": w.objects["brand_member_brand"].pk, "title": "Winter launch",
                                 "deliverables": ["video"], "budget": {"amount": 100_000, "currency": "USD"},
                                 "deadline": "2099-01-01T00:00:00Z"} if m == "POST" else None),
    "api:campaign-detail": Entry(
        cells={m: only({"brand_member": ok}, default=404) for m, ok in
               (("GET", 200), ("PATCH", 200), ("DELETE", 204))},
        kwargs=lambda w: {"campaign_id": w.objects["campaign"].pk},
        body=lambda w, m, role: {"title": "Renamed"} if m == "PATCH" else None),
    "api:campaign-invitations": Entry(
        cells={"POST": only({"brand_member": 201}, default=404)},
        kwargs=lambda w: {"campaign_id": w.objects["campaign"].pk},
        body=lambda w, m, role: {"creator": w.objects["other_creator"].handle,
                                 "fee": {"amount": 50_000, "currency": "USD"}, "message": "Hi"}),
    "api:campaign-report": Entry(
        cells={"GET": only({"brand_member": 200}, default=404)},
        kwargs=lambda w: {"campaign_id": w.objects["campaign"].pk}),
    "api:invitation-list": Entry(
        cells={"GET": only({"creator": 200, "other_creator": 200, "brand_member": 200,
                            "other_brand_member": 200}, default=403)}),
    "api:invitation-detail": Entry(
        cells={"GET": only({"brand_member": 200, "other_creator": 200}, default=404)},
        kwargs=lambda w: {"invitation_id": w.objects["invitation"].pk}),
    **{f"api:invitation-{action}": Entry(
        cells={"POST": only({"other_creator": 200, "brand_member": 403}, default=404)},
        kwargs=lambda w: {"invitation_id": w.objects["invitation"].pk},
        body=lambda w, m, role: {"fee": {"amount": 60_000, "currency": "USD"}})
       for action in ("accept", "decline", "counter")},
    **{f"api:invitation-{action}": Entry(
        cells={"POST": only({"brand_member": 200, "creator": 403}, default=404)},
        kwargs=lambda w: {"invitation_id": w.objects["countered_invitation"].pk})
       for action in ("accept-counter", "decline-counter")},
    "api:collaboration-list": Entry(
        cells={"GET": only({"creator": 200, "other_creator": 200, "brand_member": 200,
                            "other_brand_member": 200}, default=403)}),
    "api:collaboration-detail": Entry(
        cells={"GET": only({"brand_member": 200, "other_creator": 200}, default=404)},
        kwargs=lambda w: {"collaboration_id": w.objects["collaboration"].pk}),
    # Brand-side actions on a collaboration waiting for funding: fund without a card is 400; the
    # refresh answers; nothing is submitted yet to approve, send back or escalate (409).
    **{f"api:collaboration-{action}": Entry(
        cells={"POST": only({"brand_member": status_, "other_creator": 403}, default=404)},
        kwargs=lambda w: {"collaboration_id": w.objects["collaboration"].pk})
       for action, status_ in (("fund", 400), ("refresh", 200), ("approve", 409), ("request-revision", 409),
                               ("escalate", 409))},
    "api:collaboration-submit": Entry(
        cells={"POST": only({"other_creator": 409, "brand_member": 403}, default=404)},  # not funded yet
        kwargs=lambda w: {"collaboration_id": w.objects["collaboration"].pk},
        body=lambda w, m, role: {"url": "https://video.example.com/v/1"}),
    "api:collaboration-cancel": Entry(
        cells={"POST": only({"brand_member": 200, "other_creator": 200}, default=404)},
        kwargs=lambda w: {"collaboration_id": w.objects["collaboration"].pk}),
    "api:collaboration-messages": Entry(
        cells={"GET": only({"brand_member": 200, "other_creator": 200}, default=404),
               "POST": only({"brand_member": 201, "other_creator": 201}, default=404)},
        kwargs=lambda w: {"collaboration_id": w.objects["collaboration"].pk},
        body=lambda w, m, role: {"body": "Hello"} if m == "POST" else None),
    # --- payouts (creators only) ---
    "api:payout-account": Entry(
        # The creator has an account (200: a new onboarding link); other_creator starts one (201).
        # PATCH without an account is a state conflict.
        cells={"GET": every(403, creator=200, other_creator=200),
               "POST": every(403, creator=200, other_creator=201),
               "PATCH": every(403, creator=200, other_creator=409)},
        body=lambda w, m, role: {"auto_withdraw": True} if m == "PATCH" else None),
    "api:withdrawal-list": Entry(
        # No available cash (creator), no payout account (other_creator): state conflicts.
        cells={"GET": every(403, creator=200, other_creator=200),
               "POST": every(403, creator=409, other_creator=409)},
        body=lambda w, m, role: {"amount": {"amount": 1000, "currency": "USD"}} if m == "POST" else None),
    "api:payout-list": Entry(cells={"GET": every(403, creator=200, other_creator=200)}),
}
