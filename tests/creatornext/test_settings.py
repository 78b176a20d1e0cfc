"""Production settings are secure by default; development must be asked for explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "SECRET_KEY": "prod-" + "k3y" * 20,
    "ALLOWED_HOSTS": "creatornext.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/creatornext",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def _manage(*args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CREATORNEXT_", "DJANGO_", "SECURE_", "SESSION_", "CSRF_"))}
    env.update(extra_env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_secret_key_production_refuses_to_run_the_deploy_check():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_production_defaults_are_secure():
    code = ("from django.conf import settings as s; "
            "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
            " s.SECURE_HSTS_SECONDS > 0, s.ALLOWED_HOSTS)")
    result = _manage("shell", "-c", code, extra_env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "False True True True True []"


def test_the_search_index_is_under_the_var_directory_and_followed_by_beat_only_when_on(tmp_path):
    code = ("from django.conf import settings as s; "
            "print(repr(s.MARKETPLACE_SEARCH_INDEX), 'marketplace-search-index' in s.CELERY_BEAT_SCHEDULE)")
    on = _manage("shell", "-c", code, extra_env={"CREATORNEXT_VAR_DIR": str(tmp_path),
                                                 "MARKETPLACE_SEARCH_INDEX": "search-index"})
    assert on.returncode == 0, on.stderr
    assert on.stdout.split("\n")[-2] == f"{str(tmp_path / 'search-index')!r} True"
    off = _manage("shell", "-c", code, extra_env={})
    assert off.returncode == 0, off.stderr
    assert off.stdout.split("\n")[-2] == "'' False"


# --- R13: CSRF on session requests, Content-Security-Policy ---------------------------------------
def test_a_session_post_without_csrf_token_is_403_on_the_api_and_on_pages(db):
    from django.test import Client

    from tests.support.world import make_user

    user = make_user("csrf_fan")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    api = browser.post("/api/v1/tips/", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert api.status_code == 403, api.content
    page = browser.post("/accounts/delete/", {"password": "correct horse battery"})
    assert page.status_code == 403
    user.refresh_from_db()
    assert user.deleted_at is None
    # The same POST with the token passes the CSRF check (and fails validation: an empty tip)
    token = browser.get("/accounts/delete/").cookies["csrftoken"].value
    assert browser.post("/api/v1/tips/", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k",
                        HTTP_X_CSRFTOKEN=token).status_code == 400


def test_every_response_carries_a_content_security_policy_without_inline_scripts(client, db, settings):
    from urllib.parse import urlsplit

    base = urlsplit(settings.STRIPE_API_BASE)
    stripe_origin = f"{base.scheme}://{base.netloc}"
    for path in ("/", "/accounts/login/", "/api/v1/gifts/", "/healthz"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        sources = directives["script-src"].split()
        assert sources[0] == "'self'" and "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        assert sources[1:] == [stripe_origin], path  # Stripe.js (here the local stand-in), nothing else
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    docs = client.get("/api/docs/")
    assert "<script>" not in docs.content.decode()  # Swagger UI's start-up script is a file
    assert "'unsafe-inline'" not in docs["Content-Security-Policy"].split("script-src")[1].split(";")[0]
