"""Project settings, read from the environment.

Defaults give a working development server on an embedded SQLite file; production sets
DATABASE_URL (PostgreSQL), SECRET_KEY, DEBUG=0 and ALLOWED_HOSTS.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EBR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The development default is public on purpose; `check --deploy` refuses it in production.
SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-development-only-key-never-use-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "core",
    "users",
    "documents",
    "equipment",
    "inventory",
    "deviations",
    "capa",
    "batch_records",
    "serials",
    "demo",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'ebr.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: wait for the write lock instead of failing at once; start write transactions
    # immediately so that two writers queue instead of deadlocking on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"].endswith("postgresql") and os.environ.get("DB_PREPARED_STATEMENTS", "1") == "1":
    # PostgreSQL: parameters bound by the server, and a statement run twice on a connection
    # is prepared, so its plan is reused: every request repeats the same few statements
    # (token, permissions, count, page), and planning them costs more than running them.
    # Set DB_PREPARED_STATEMENTS=0 behind a pooler in transaction mode that cannot keep
    # prepared statements (PgBouncer before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# A shared cache carries login/signature failure counts and throttles. Production with
# several workers points CACHE_URL at Redis; the default file cache is shared by the
# processes of one machine.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith("redis://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Argon2id with RFC 9106's second recommended parameters (see users/hashers.py, README
# "Passwords and signatures"); hashes made with other parameters upgrade on next login.
PASSWORD_HASHERS = [
    "users.hashers.Argon2idRFC9106Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
EBR_MATERIAL_TOLERANCE_PERCENT = os.environ.get("EBR_MATERIAL_TOLERANCE_PERCENT", "2")  # ± % of quantity_required
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out users before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "users.backends.ModelBackend",
]

# 21 CFR 11.300(d): repeated failed logins or signatures lock the account.
AXES_FAILURE_LIMIT = int(os.environ.get("EBR_LOCKOUT_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("EBR_LOCKOUT_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# Failures are counted in the shared cache, not the database: a refused signature rolls
# its transaction back, and the failure must still count.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_HTTP_RESPONSE_CODE = 403
AXES_VERBOSE = True
AXES_LOCKOUT_CALLABLE = "core.api.exceptions.lockout_response"

SILENCED_SYSTEM_CHECKS = [
    # Part 11 locks the account, not the address: the tablets of a shop floor share one
    # address, and locking it would stop the whole line after one user's typos.
    "axes.W006",
]
if DEBUG and not CACHE_URL.startswith("redis://"):
    # The development server runs in one process; production sets CACHE_URL to Redis so
    # that failure counts are atomic across workers (and this warning stays on there).
    SILENCED_SYSTEM_CHECKS.append("axes.W001")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

# django-simple-history: the reason for a change is free text, never cut at 100 characters.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filtering.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": os.environ.get("EBR_LOGIN_RATE", "20/min"),
        "signature": os.environ.get("EBR_SIGNATURE_RATE", "60/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": True,
}
MAX_PAGE_SIZE = 200
# Lists count their rows up to this many, then say "more" (count_exact: false): an exact
# count(*) grows with the table (core/api/pagination.py).
EBR_LIST_COUNT_CAP = int(os.environ.get("EBR_LIST_COUNT_CAP", "10000"))

# Tokens expire when idle (each use pushes expiry forward, at most once a minute) and at
# the latest after a working shift, whatever the use.
REST_KNOX = {
    "TOKEN_TTL": timedelta(minutes=int(os.environ.get("EBR_TOKEN_IDLE_MINUTES", "30"))),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(hours=int(os.environ.get("EBR_TOKEN_MAX_HOURS", "12"))),
    "MIN_REFRESH_INTERVAL": 60,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "EBR API",
    "DESCRIPTION": "Electronic Batch Record API: master batch records, batch execution, "
    "21 CFR Part 11 electronic signatures and audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every choice set gets its own name, so "status" of one record never collides with another's.
    "ENUM_NAME_OVERRIDES": {
        "SignatureMeaningEnum": "core.models.SignatureMeaning",
        "DocumentStatusEnum": "documents.models.DocumentStatus",
        "MBRStatusEnum": "batch_records.choices.MBRStatus",
        "BatchStatusEnum": "batch_records.choices.BatchStatus",
        "StepStatusEnum": "batch_records.choices.StepStatus",
        "DeviationTypeEnum": "batch_records.choices.DeviationType",
        "BatchDeviationStatusEnum": "batch_records.choices.BatchDeviationStatus",
        "MaterialStatusEnum": "batch_records.choices.MaterialStatus",
        "EquipmentUsageStatusEnum": "batch_records.choices.EquipmentUsageStatus",
        "EquipmentStatusEnum": "equipment.models.EquipmentStatus",
        "CleaningStatusEnum": "equipment.models.CleaningStatus",
        "RecordResultEnum": "equipment.models.RecordResult",
        "DeviationSeverityEnum": "deviations.models.DeviationSeverity",
        "DeviationStatusEnum": "deviations.models.DeviationStatus",
        "CAPAStatusEnum": "capa.models.CAPAStatus",
        "SerialStatusEnum": "serials.choices.SerialStatus",
        "SerialStepStateEnum": "serials.choices.SerialStepState",
        "LotStatusEnum": "inventory.choices.LotStatus",
        "MovementKindEnum": "inventory.choices.MovementKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Production orders and domain events (orders/, events/; docs/orders-events.md) -------
INSTALLED_APPS += ["events", "orders"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "DeliveryStatusEnum": "events.choices.DeliveryStatus",
        "OrderStatusEnum": "orders.choices.OrderStatus",
    }
)
EBR_NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
# JetStream stream created by the relay if no stream holds the subjects yet.
EBR_EVENTS_STREAM = os.environ.get("EBR_EVENTS_STREAM", "EBR_EVENTS")
EBR_EVENTS_SUBJECT_PREFIX = "progress.notification"
# JetStream drops a message whose Nats-Msg-Id (the event id) it saw within this window.
EBR_EVENTS_DUPLICATE_WINDOW_SECONDS = int(os.environ.get("EBR_EVENTS_DUPLICATE_WINDOW_SECONDS", "86400"))
EBR_NATS_TIMEOUT_SECONDS = float(os.environ.get("EBR_NATS_TIMEOUT_SECONDS", "5"))
EBR_RELAY_POLL_SECONDS = float(os.environ.get("EBR_RELAY_POLL_SECONDS", "1"))
EBR_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("EBR_WEBHOOK_TIMEOUT_SECONDS", "10"))
EBR_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("EBR_WEBHOOK_MAX_ATTEMPTS", "8"))
# Retry n waits BACKOFF × 2^(n-1) seconds, at most BACKOFF_MAX: 30 s, 1 min, 2 min ... 1 h.
EBR_WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("EBR_WEBHOOK_BACKOFF_SECONDS", "30"))
EBR_WEBHOOK_BACKOFF_MAX_SECONDS = float(os.environ.get("EBR_WEBHOOK_BACKOFF_MAX_SECONDS", "3600"))

# --- Error contract and input bounds (README "API conventions") ----------------------------
# Every response carries X-Request-ID; every log line and every 500 body carry the same id.
MIDDLEWARE = ["core.request_id.RequestIDMiddleware", *MIDDLEWARE]
LOGGING["filters"] = {"request_id": {"()": "core.request_id.RequestIDLogFilter"}}
LOGGING["formatters"] = {"request_id": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}}
LOGGING["handlers"]["console"].update(filters=["request_id"], formatter="request_id")
# Bodies are read within core.limits: NUL, lone surrogates, deep nesting and oversized
# numbers are a 400 naming the field, never a database error.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "core.api.parsers.BoundedJSONParser",
    "core.api.parsers.BoundedFormParser",
    "core.api.parsers.BoundedMultiPartParser",
]
# A request body (files aside) larger than this is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(float(os.environ.get("EBR_MAX_BODY_MB", "2.5")) * 1024 * 1024)
# A connection the database dropped (restart, failover) is noticed before the request uses
# it, and replaced: the next request works.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Client address behind proxies (README "Production") ----------------------------------
# Throttles and the lockout log identify a client by the address the trusted proxies
# report: REMOTE_ADDR with none (the default), the N-th X-Forwarded-For entry from the
# right behind N. A client-sent X-Forwarded-For alone never counts.
REST_FRAMEWORK["NUM_PROXIES"] = int(os.environ.get("EBR_NUM_PROXIES", "0"))
AXES_CLIENT_IP_CALLABLE = "users.client_address.client_ip"

# --- Document uploads (README "Production") -------------------------------------------------
# Largest accepted document file; larger uploads are refused with 413 (the proxy in front
# should allow a little more than this, e.g. nginx client_max_body_size 26m).
EBR_UPLOAD_MAX_BYTES = int(float(os.environ.get("EBR_UPLOAD_MAX_MB", "25")) * 1024 * 1024)

# Tamper-evident audit trail (docs/audit-trail.md): the keys of the audit rows' hash chains and
# the signatures' content hashes, "kid:secret,kid2:secret2" (never SECRET_KEY; keep every key
# that signed a row, or its links cannot be verified), the current one, and where
# `manage.py audit_anchor` writes the chain heads (a place the database role cannot write).
EBR_AUDIT_DEVELOPMENT_KEYS = "dev:development-only-audit-key-never-use-in-production"
EBR_AUDIT_KEYS = os.environ.get("EBR_AUDIT_KEYS", EBR_AUDIT_DEVELOPMENT_KEYS)
EBR_AUDIT_KEY_ID = os.environ.get("EBR_AUDIT_KEY_ID", "")
EBR_AUDIT_ANCHOR_DIR = Path(os.environ.get("EBR_AUDIT_ANCHOR_DIR", VAR_DIR / "audit-anchors"))
# Background jobs (jobs app, config/celery.py): Celery on RabbitMQ. A job is acknowledged
# only when it has finished, and a job whose worker died is given back to the broker, so
# it runs again on the next worker (a job survives a worker restart); one job at a time
# per worker process. The job's state, progress and file are kept in the database and
# storage, not in a result backend.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("EBR_JOB_QUEUE", "exports")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Run jobs inside the request instead of on a worker (tests only).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
