from django.apps import AppConfig


class SerialsConfig(AppConfig):
    name = "serials"
    verbose_name = "Serialized units"

    def ready(self):
        from . import signals

        signals.connect()
