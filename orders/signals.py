"""Where a batch's own transitions involve its production order (seed 000).

Batch services know nothing of orders; these receivers run inside the batch's transaction:
- start (pending → in_progress): an open order goes in progress;
- completion (in_progress → completed): refused for a batch of a closed order (checked
  before the row is written); once written, the produced quantity is counted, and the last
  batch completes the order or a continuation batch is created.

The status a BatchRecord was loaded with is remembered at load time, so that a save knows
which transition it writes.
"""

from django.db.models.signals import post_init, post_save, pre_save

from batch_records.choices import BatchStatus
from batch_records.models import BatchRecord

_LOADED_STATUS = "_orders_loaded_status"


def remember_status(sender, instance, **kwargs):
    # Read from __dict__: a deferred status must not cost a query on every load.
    setattr(instance, _LOADED_STATUS, instance.__dict__.get("status"))


def _transition(instance):
    return getattr(instance, _LOADED_STATUS, None), instance.__dict__.get("status")


def check_before_completion(sender, instance, raw=False, **kwargs):
    if raw:
        return
    if _transition(instance) == (BatchStatus.IN_PROGRESS, BatchStatus.COMPLETED):
        from .services import check_batch_may_complete

        check_batch_may_complete(instance)


def count_for_the_order(sender, instance, created, raw=False, **kwargs):
    if raw or created:
        return
    previous, current = _transition(instance)
    setattr(instance, _LOADED_STATUS, current)
    if previous is None or previous == current:
        return
    from . import services

    if current == BatchStatus.IN_PROGRESS:
        services.on_batch_started(instance, actor=instance.updated_by)
    elif current == BatchStatus.COMPLETED:
        services.on_batch_completed(instance, actor=instance.updated_by)


def connect():
    post_init.connect(remember_status, sender=BatchRecord, dispatch_uid="orders_batch_status_loaded")
    pre_save.connect(check_before_completion, sender=BatchRecord, dispatch_uid="orders_batch_completing")
    post_save.connect(count_for_the_order, sender=BatchRecord, dispatch_uid="orders_batch_saved")
