"""The two points where a serialized batch's own transitions involve its units.

Batch services know nothing of serials; these receivers run inside their transaction:
- start (pending → in_progress): the units are generated, one per planned unit;
- completion (in_progress → completed): the declared quantities must match the units,
  checked before the row is written, so a mismatch rolls the completion back (400).

The status a BatchRecord was loaded with is remembered at load time, so that a save
knows which transition it writes.
"""

from django.db.models.signals import post_init, post_save, pre_save

from batch_records.choices import BatchStatus
from batch_records.models import BatchRecord

_PREVIOUS_STATUS = "_serials_previous_status"


def remember_status(sender, instance, **kwargs):
    # Read from __dict__: a deferred status must not cost a query on every load.
    setattr(instance, _PREVIOUS_STATUS, instance.__dict__.get("status"))


def _transition(instance):
    return getattr(instance, _PREVIOUS_STATUS, None), instance.__dict__.get("status")


def check_quantities_before_completion(sender, instance, raw=False, **kwargs):
    if raw or not instance.is_serialized:
        return
    previous, current = _transition(instance)
    if previous == BatchStatus.IN_PROGRESS and current == BatchStatus.COMPLETED:
        from .services import check_serialized_completion

        check_serialized_completion(instance, instance.quantity_produced, instance.quantity_rejected)


def generate_serials_at_start(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    previous, current = _transition(instance)
    setattr(instance, _PREVIOUS_STATUS, current)
    if instance.is_serialized and current == BatchStatus.IN_PROGRESS and previous != BatchStatus.IN_PROGRESS:
        from .services import generate_serials

        generate_serials(instance, actor=instance.updated_by)


def connect():
    post_init.connect(remember_status, sender=BatchRecord, dispatch_uid="serials_batch_status_loaded")
    pre_save.connect(check_quantities_before_completion, sender=BatchRecord, dispatch_uid="serials_batch_completing")
    post_save.connect(generate_serials_at_start, sender=BatchRecord, dispatch_uid="serials_batch_started")
