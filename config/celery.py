"""The Celery application: background jobs (exports) on the RabbitMQ broker.

    .venv/bin/celery -A config.celery worker --queues exports --concurrency 2 --loglevel INFO   # `make worker`

Configuration comes from Django's settings (CELERY_* names, config/settings.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ebr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
