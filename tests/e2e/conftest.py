"""Browser suite: Playwright driving Debian's chromium (never a downloaded browser).

Pages are served by pytest-django's ``live_server`` (a real threaded server on 127.0.0.1 backed by
the test database). Playwright's sync API runs an event loop in this thread, so Django's guard
against ORM calls from async contexts is lifted for the browser tests only.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    # Any request that leaves this machine's test server is a bug: every asset is served by us.
    outside: list[str] = []
    # Our own test server, and the local fake Stripe that serves the Stripe.js stand-in.
    from django.conf import settings

    allowed = (live_server.url, settings.STRIPE_API_BASE, "data:", "blob:")
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(allowed) else None)
    # Every page works under the Content-Security-Policy (creatornext/core/middleware.py): the
    # browser reports each script or style it refused on the console.
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not outside, f"The page loaded something from outside the app: {outside}"
    assert not refused, f"The Content-Security-Policy refused: {refused}"
