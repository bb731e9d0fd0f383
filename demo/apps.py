from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data (`manage.py seed_demo`). It uses every domain app's services; no app
    depends on it."""

    name = "demo"
    verbose_name = "Demo data"
