from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_delete, pre_save


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Integrity kernel"

    def ready(self):
        from simple_history.models import HistoricalChanges
        from simple_history.signals import pre_create_historical_m2m_records, pre_create_historical_record

        from . import checks  # noqa: F401 - registers the deployment checks
        from .audit import on_post_migrate, refuse_audit_row_delete
        from .chain import link_append_only_row, link_history_m2m_rows, link_history_row
        from .models import AuditChainFields

        post_migrate.connect(on_post_migrate, dispatch_uid="core.append_only_triggers")

        # Every audit row becomes a link of its aggregate's hash chain as it is written.
        pre_create_historical_record.connect(link_history_row, dispatch_uid="core.chain.history")
        pre_create_historical_m2m_records.connect(link_history_m2m_rows, dispatch_uid="core.chain.history_m2m")
        pre_save.connect(link_append_only_row, dispatch_uid="core.chain.append_only")

        # A cascade never deletes a signature or a ledger movement. Listening also stops Django
        # from "fast-deleting" them with a DELETE statement (refused to the runtime role even
        # when it would match no row, e.g. when a draft is deleted).
        for model in self.apps.get_models():
            if issubclass(model, AuditChainFields) and not issubclass(model, HistoricalChanges):
                uid = f"core.audit.refuse_delete.{model._meta.label}"
                pre_delete.connect(refuse_audit_row_delete, sender=model, dispatch_uid=uid)
