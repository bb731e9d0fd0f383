from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Domain events"

    def ready(self):
        # Each app declares the events its records raise in its own `domain_events` module
        # (events knows no domain app); importing them connects the save hooks.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("domain_events")
