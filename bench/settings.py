"""Settings for the server the harness starts: the production settings, plus the baselines.

Everything the app reads still comes from the environment (the harness sets the production
shape: no CREATORNEXT_DEV, a real SECRET_KEY, PostgreSQL and Redis); only the URL configuration
and one app are added, so B-json and B-insert run in the same gunicorn, with the same middleware
and worker settings, as the endpoints they are compared with.
"""

import os

from creatornext.settings import *  # noqa: F403
from creatornext.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
# The workloads send thousands of tips/gifts as a few fans: abuse limits would measure themselves.
# A workload that runs the app with its limits on, as deployed (the soak, which raises the staff
# settings ratelimit.<scope>.count in its data instead), sets BENCH_RATE_LIMITS=on in server_env.
RATE_LIMITS_ENABLED = os.environ.get("BENCH_RATE_LIMITS") == "on"
