"""Every main page, as the person who uses it: no serious or critical accessibility violation
(axe-core, vendored in tests/e2e/vendor/), nothing wider than a phone, and screenshots at desktop and
phone width saved to docs/screenshots/ (shown in the README)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from creatornext.ledger.models import AccountKind
from creatornext.ledger.services import Leg, creator_income, platform_account
from creatornext.money import Money
from eligibility.defaults import seed_defaults
from gifts.defaults import seed_catalog
from tests.eligibility.helpers import enroll, make_creator
from tests.support.ledger import give_coins, give_diamonds
from tests.support.otp import OtpClient
from tests.support.world import make_user

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"  # never served by the app: the browser context answers it
# Saved where the README shows them (issue 14); SCREENSHOTS_DIR=/some/dir keeps a run's elsewhere.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "docs" / "screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# (screenshot name, who, path, a heading the page must show)
PAGES = [
    ("landing", None, "/", "Get paid by the people who love your work"),
    ("sign-up", None, "/accounts/signup/", None),
    ("log-in", None, "/accounts/login/", None),
    ("creator-page", "fan", "/@maya.makes", "Send @maya.makes a tip"),
    ("wallet", "fan", "/wallet/", None),
    ("buy-coins", "fan", "/coins/", None),
    ("tips-sent", "fan", "/tips/sent/", None),
    ("dashboard", "creator", "/dashboard/", "Earnings, last 30 days"),
    ("eligibility", "creator", "/eligibility/", "Your programs"),
    ("diamonds", "creator", "/diamonds/", None),
    ("tips-received", "creator", "/tips/received/", None),
    ("payouts", "creator", "/payouts/", "Payouts"),
    ("withdraw", "creator", "/payouts/withdraw/", None),
    ("payout-history", "creator", "/payouts/history/", None),
    ("marketplace-search", "brand", "/marketplace/", "Find creators"),
    ("shortlists", "brand", "/marketplace/shortlists/", None),
    ("admin", "staff", "/admin/", None),
]

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


def _people():
    seed_defaults()  # transactional tests empty the tables the seed migration filled
    seed_catalog()
    creator = make_creator("maya.makes")
    creator.display_name, creator.bio = "Maya Makes", "Pottery, glazes and kiln disasters, filmed weekly."
    creator.save(update_fields=["display_name", "bio"])
    enroll(creator, "creator-next", "tips", "live-gifts")
    inflow = platform_account(AccountKind.PROVIDER_INFLOW, "USD")
    for key, kind, cents in [("tip-1", "tip", 1_426), ("tip-2", "tip", 474), ("red-1", "redemption", 2_000),
                             ("mkt-1", "escrow_release", 12_000)]:
        creator_income(key=f"demo:{key}", kind=kind, owner=creator.user, amount=Money(cents, "USD"),
                       source_legs=[Leg(inflow, -cents)])
    give_diamonds(creator.user, 4_250)
    fan = make_user("rosa")
    give_coins(fan, 700)
    from tests.marketplace.helpers import brand_member

    buyer, _ = brand_member("buyer")
    staff = make_user("boss", staff=True)
    staff.is_superuser = True
    staff.save()
    return {"creator": creator.user, "fan": fan, "brand": buyer, "staff": staff}


def _session(user) -> str:
    client = OtpClient()  # staff sessions are verified with their TOTP device
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
def test_every_main_page_is_accessible_fits_a_phone_and_is_photographed(browser, live_server, fake_stripe):
    people = _people()
    SHOTS.mkdir(parents=True, exist_ok=True)
    contexts = {}
    problems: list[str] = []
    outside: list[str] = []
    csp: list[str] = []  # the browser's reports of anything the Content-Security-Policy refused
    from django.conf import settings

    allowed = (live_server.url, settings.STRIPE_API_BASE, "data:", "blob:")
    for name, who, path, heading in PAGES:
        if who not in contexts:
            context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
            # axe-core is served as if from our origin, so the pages' real CSP (script-src 'self') holds.
            context.route(f"{live_server.url}{AXE_URL}", lambda route: route.fulfill(
                path=str(AXE), content_type="text/javascript"))
            if who is not None:
                context.add_cookies([{"name": "sessionid", "value": _session(people[who]),
                                      "url": live_server.url}])
            contexts[who] = context.new_page()
            contexts[who].on("request", lambda r: outside.append(r.url) if not r.url.startswith(allowed) else None)
            contexts[who].on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
        page = contexts[who]
        page.set_viewport_size(DESKTOP)
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        if heading:
            page.get_by_role("heading", name=heading).first.wait_for()
        page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=name == "dashboard")
        if who != "staff":  # Django's own admin is not ours to restyle; our pages must pass axe
            page.add_script_tag(url=AXE_URL)
            violations = page.evaluate(AXE_RUN)
            if violations:
                problems.append(f"{path}: {json.dumps(violations, indent=1)}")
        page.set_viewport_size(PHONE)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1 and who != "staff":
            problems.append(f"{path}: {overflow}px wider than a phone")
        page.screenshot(path=str(SHOTS / f"{name}-phone.png"))
    _statement_export(contexts["creator"])
    for page in contexts.values():
        page.context.close()
    assert not outside, f"Pages loaded something from outside the app: {outside}"
    assert not csp, "The Content-Security-Policy refused something:\n" + "\n".join(csp)
    assert not problems, "\n".join(problems)


def _statement_export(page) -> None:
    """The dashboard's export follows every page of the statement, showing progress, into one file."""
    page.set_viewport_size(DESKTOP)
    page.goto("/dashboard/")
    link = page.locator("#statement-export")
    link.evaluate("a => { a.href = a.href.replace('page_size=200', 'page_size=2'); }")  # several pages
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text()
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,created_at,kind") and len(lines) == 6  # header + 5 ledger lines
    assert sum(line.startswith("id,") for line in lines) == 1
    assert page.locator("[data-export-state]").inner_text() == "Done: 5 lines exported."
