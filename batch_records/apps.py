from django.apps import AppConfig


class BatchRecordsConfig(AppConfig):
    name = "batch_records"
    verbose_name = "Batch records"

    def ready(self):
        from . import signals

        signals.connect()
