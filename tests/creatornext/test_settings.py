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
