"""Derived flags only: a batch's `has_deviations` and `review_by_exception` follow its
deviations, saved through the model so that the history shows each change."""

from django.db.models.signals import post_delete, post_save

from batch_records.models import BatchDeviation, BatchRecord


def _refresh_flags(deviation, reason, actor=None):
    from batch_records.services.flags import refresh_batch_flags

    refresh_batch_flags(BatchRecord(pk=deviation.batch_id), actor=actor, reason=reason)


def deviation_saved(sender, instance, created, raw=False, **kwargs):
    if raw:  # fixtures loaded as they are
        return
    verb = "opened" if created else "updated"
    _refresh_flags(instance, f"Deviation {instance.deviation_id} {verb}", actor=instance.updated_by)


def deviation_deleted(sender, instance, origin=None, **kwargs):
    # The batch is being deleted with its deviations: there is nothing left to flag.
    if isinstance(origin, BatchRecord):
        return
    _refresh_flags(instance, f"Deviation {instance.deviation_id} deleted")


def connect():
    post_save.connect(deviation_saved, sender=BatchDeviation, dispatch_uid="batch_deviation_saved_flags")
    post_delete.connect(deviation_deleted, sender=BatchDeviation, dispatch_uid="batch_deviation_deleted_flags")
