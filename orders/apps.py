from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Production orders"

    def ready(self):
        from . import signals

        signals.connect()
