"""Creator Next settings: one module, every value from the environment.

Secure by default: with no environment this is the *production* shape (DEBUG off, HTTPS-only
cookies, HSTS, SSL redirect, no secret key). Local development over plain HTTP must say so
explicitly with ``CREATORNEXT_DEV=true`` (``make run`` and the test suite do).

Storage defaults to the *embedded* shape (SQLite file + a filesystem Celery broker under
``CREATORNEXT_VAR_DIR``); ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
See docs/decisions/0001-settings-and-embedded-default.md.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# --- Mode --------------------------------------------------------------------------------------
DEV = env.bool("CREATORNEXT_DEV", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=DEV)
VAR_DIR = Path(env.str("CREATORNEXT_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
# The embedded default keeps its SQLite file, cache, broker queue and mail here; SQLite cannot
# create a missing directory, so make it before any process opens the database.
with contextlib.suppress(OSError):  # a read-only image in production, where nothing lives in VAR_DIR
    VAR_DIR.mkdir(parents=True, exist_ok=True)

# In production an empty key makes Django refuse to sign anything; there is no insecure fallback.
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="dev-only-insecure-key-never-used-in-production-0123456789abcdef" if DEV else "",
)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEV else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000" if DEV else "")

# --- Security (production unless CREATORNEXT_DEV) ---------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEV)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEV)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEV)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEV else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEV)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEV)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Load balancers probe health over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Abuse limits (creatornext/core/throttling.py; the numbers are staff-editable settings). Only the
# test suite and the benchmark server switch them off: they send many requests as one caller.
RATE_LIMITS_ENABLED = env.bool("CREATORNEXT_RATE_LIMITS", default=True)
# Only behind a proxy that sets X-Forwarded-Proto and that gunicorn trusts; otherwise a spoofable
# header would switch off the HTTPS redirect.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Applications ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "creatornext.site.apps.StaffAdminConfig",  # the admin, behind staff two-factor (TOTP)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "creatornext.accounts",
    "creatornext.audit",
    "creatornext.core",
    "creatornext.ledger",
    "creatornext.payments",
    "creatornext.payouts",
    "creatornext.site",
    "eligibility",
    "tips",
    "marketplace",
    "gifts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "creatornext.core.middleware.ContentSecurityPolicyMiddleware",
    "creatornext.core.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the admin asks for it
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "creatornext.urls"
WSGI_APPLICATION = "creatornext.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # RECIPES.md: without IMMEDIATE transactions and WAL, a task and a request that both read then
    # write inside atomic() fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    # No health check (a SELECT 1 before each request's first query, ~12% of a cheap endpoint):
    # a connection the server dropped fails one request, Django then discards it, and the client's
    # retry (idempotency keys make it safe) gets a new one (docs/decisions/0010, "connections").
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
    # The test database gets its own name so `make test` never touches a developer's data.
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_creatornext")}

# --- Cache -------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    # Shared by every process of the embedded platform (web workers and Celery), unlike locmem.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

# --- Celery ------------------------------------------------------------------------------------
# Embedded default: our atomic filesystem transport (docs/decisions/0002-embedded-celery-broker.md).
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "cnfs://")
if CELERY_BROKER_URL.startswith("cnfs://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A task whose worker died is redelivered after this; the sweepers cover the gap.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fix-up closes every database connection before and after each task unless this
# is set: a new PostgreSQL backend (a fork, authentication, session set-up) for every task, which
# cost the P3 webhook bench about a core. With it the fix-up closes them only every 1,000 tasks;
# between, creatornext/celery.py applies Django's own rule around each task, as around a request
# (CONN_MAX_AGE, and a connection broken by an error is dropped).
CELERY_DB_REUSE_MAX = 1_000
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    # Emails whose own send task was lost (creatornext/core/emails.py).
    "emails-send-due": {"task": "creatornext.core.tasks.emails_send_due", "schedule": 120.0},
    "idempotency-cleanup": {
        "task": "creatornext.core.tasks.idempotency_cleanup",
        "schedule": 3600.0,
    },
    "ledger-holds-release": {
        "task": "creatornext.ledger.tasks.holds_release_due",
        "schedule": 300.0,
    },
    # Hourly tick: starts the day's re-evaluation of every enrolled creator once per UTC day (in
    # batches, checkpointed) and resumes it if a worker died mid-run.
    "eligibility-daily-reevaluation": {
        "task": "eligibility.tasks.reevaluation_daily",
        "schedule": 3600.0,
    },
    # Marketplace search sorts by copies of creators' followers and handles: refresh them.
    "marketplace-profiles-sync": {
        "task": "marketplace.tasks.profiles_sync",
        "schedule": 600.0,
    },
    # Collaborations: invitations expire, unfunded ones are cancelled, unanswered submissions approved.
    "marketplace-invitations-expire": {"task": "marketplace.tasks.invitations_expire", "schedule": 3600.0},
    "marketplace-unfunded-cancel": {"task": "marketplace.tasks.collaborations_unfunded_cancel",
                                    "schedule": 3600.0},
    "marketplace-auto-approve": {"task": "marketplace.tasks.collaborations_auto_approve", "schedule": 3600.0},
    "payments-webhook-retry": {
        "task": "creatornext.payments.tasks.webhook_events_retry_due",
        "schedule": 60.0,
    },
    # Payouts: gather and run batches, resume claimed-but-unfinished items, weekly automatic
    # withdrawals (hourly tick, once per ISO week), daily reconciliation with the provider.
    "payouts-run-due": {"task": "creatornext.payouts.tasks.payouts_run_due", "schedule": 3600.0},
    "payouts-sweep": {"task": "creatornext.payouts.tasks.payouts_sweep", "schedule": 60.0},
    "payouts-auto-withdraw": {"task": "creatornext.payouts.tasks.withdrawals_auto", "schedule": 3600.0},
    "payouts-reconcile": {"task": "creatornext.payouts.tasks.reconcile_daily", "schedule": 86400.0},
    "tips-daily-digest": {
        "task": "tips.tasks.tips_daily_digest",
        "schedule": crontab(hour=7, minute=0),
    },
    "heartbeat": {
        "task": "creatornext.core.tasks.record_heartbeat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
        "args": ("beat",),
    },
}

# Marketplace search index (decision 0022): a directory shared by the web workers (readers) and the
# Celery worker (the one writer); empty: PostgreSQL answers every search.
# A relative path is under CREATORNEXT_VAR_DIR.
MARKETPLACE_SEARCH_INDEX = env.str("MARKETPLACE_SEARCH_INDEX", default="")
if MARKETPLACE_SEARCH_INDEX:
    MARKETPLACE_SEARCH_INDEX = str(VAR_DIR / MARKETPLACE_SEARCH_INDEX)
# Read-your-writes: each search first takes the changed cards in itself (tests; one process only).
MARKETPLACE_SEARCH_INDEX_SYNC = env.bool("MARKETPLACE_SEARCH_INDEX_SYNC", default=False)
if MARKETPLACE_SEARCH_INDEX:  # the worker follows the profile cards every few seconds
    CELERY_BEAT_SCHEDULE["marketplace-search-index"] = {
        "task": "marketplace.tasks.search_index_catch_up",
        "schedule": float(env.int("MARKETPLACE_SEARCH_INDEX_SECONDS", default=5)),
    }

# Idempotency keys are kept at least this long (API.md: ≥ 24 hours).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=48)
MIN_SIGNUP_AGE = env.int("MIN_SIGNUP_AGE", default=13)

# --- Payments (Stripe) -------------------------------------------------------------------------
# Development and tests talk to the local fake (creatornext/payments/fake_stripe.py), which `make
# run` starts on STRIPE_API_BASE's port; production sets the real keys and base.
STRIPE_FAKE = env.bool("STRIPE_FAKE", default=DEV)
STRIPE_API_BASE = env.str("STRIPE_API_BASE",
                          default="http://127.0.0.1:8420" if STRIPE_FAKE else "https://api.stripe.com")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="sk_test_creatornext_local" if STRIPE_FAKE else "")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY",
                                 default="pk_test_creatornext_local" if STRIPE_FAKE else "")
# Two secrets are accepted while the endpoint secret is rotated.
# A payout transfer that hangs longer than this is retried with its key (payouts/batches.py).
STRIPE_CONNECT_TIMEOUT_SECONDS = env.float("STRIPE_CONNECT_TIMEOUT_SECONDS", default=20.0)
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRETS",
                                  default=["whsec_creatornext_local"] if STRIPE_FAKE else [])

# --- Email -------------------------------------------------------------------------------------
# EMAIL_URL: smtp+tls://user:pass@host:587, consolemail://, filemail:///path (default: var/mail).
_email = env.email_url("EMAIL_URL", default="filemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"] or str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Creator Next <no-reply@creatornext.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Auth --------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- I18N / time -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEV
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Development serves straight from the app folders; production from collectstatic's output.
WHITENOISE_USE_FINDERS = DEV
WHITENOISE_AUTOREFRESH = DEBUG

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "no credentials" into 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "creatornext.accounts.authentication.TokenAuthentication",  # DRF's, compiled once
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["creatornext.core.parsers.JSONParser"],  # DRF's, deep nesting a 400
    "DEFAULT_SCHEMA_CLASS": "creatornext.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "creatornext.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "creatornext.core.api.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Creator Next API",
    "DESCRIPTION": "Public REST API v1. Money is {amount: integer minor units, currency}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "creatornext.core.schema.add_error_responses",
    ],
}

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The stripe library logs two INFO lines per API call: at a payout batch's rate that is the
    # busiest logger of the worker (and every thread queues on the handler's lock). Failed calls
    # still show: the stripe library warns, and the payout runner logs each retry and refusal.
    "loggers": {"stripe": {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")}},
}
