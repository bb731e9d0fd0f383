"""Test settings: the project's settings with a fast password hasher and an in-process
cache. DATABASE_URL still chooses SQLite (default) or PostgreSQL."""

from .settings import *  # noqa: F403

# Argon2 is the production hasher (see settings.PASSWORD_HASHERS); tests sign thousands of
# times and use a fast one. test_signatures checks the production order.
PRODUCTION_PASSWORD_HASHERS = PASSWORD_HASHERS  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "axes.W001"]  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405

# The suite may run as the server's runtime role (DATABASE_URL), which cannot empty the audit
# tables between transactional tests or act as an attacker holding the owner's credentials.
# MIGRATE_DATABASE_URL names the owner role; its connection reaches the same test database.
if os.environ.get("MIGRATE_DATABASE_URL"):  # noqa: F405
    DATABASES["owner"] = {  # noqa: F405
        **dj_database_url.parse(os.environ["MIGRATE_DATABASE_URL"]),  # noqa: F405
        "TEST": {"MIRROR": "default"},
    }
CELERY_TASK_ALWAYS_EAGER = True  # background jobs run in the test's process
