"""Settings of the benchmark server: the production settings (DEBUG off) plus the baseline
views, served over plain HTTP on the loopback address.

Differences from production, each needed to measure on one machine:
- no HTTPS redirect or HSTS (no TLS proxy in front of gunicorn here);
- the per-user throttles are raised: S3 and S4 send more signed actions per minute than a
  person can, and a 429 would measure the throttle instead of the work.
"""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "x" * 40)

from config.settings import *  # noqa: E402, F403

ROOT_URLCONF = "benchmarks.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"login": "100000/min", "signature": "100000/min"},
}
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "axes.W001"]  # noqa: F405
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
