"""Business actions on production orders. The transitions are declared in
`workflows.ORDER_WORKFLOW` and run by its `perform`; the functions named `record_*` are
their work. What a batch's own transitions do to its order (start, completion,
continuation) is in `on_batch_started` / `on_batch_completed`, run inside the batch's
transaction by orders.signals.

Lock order: the batch row (locked by the batch's service), then the order row.
"""

import contextvars
from contextlib import contextmanager
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batch_records.choices import BatchStatus, MBRStatus
from batch_records.models import BatchRecord, MasterBatchRecord
from batch_records.services.batches import clean_quantity, create_batch
from batch_records.workflows import BATCH_WORKFLOW
from core.exceptions import Conflict, DomainError, NotPermitted
from core.workflow import Facts, edit_record

from .choices import OrderStatus
from .models import OrderBatch, ProductionOrder
from .workflows import ORDER_WORKFLOW

# Batches of an order that still count towards what is planned but not yet made.
ACTIVE_BATCH_STATUSES = (BatchStatus.PENDING, BatchStatus.IN_PROGRESS)

# The order (and the batch continued) of a batch being created for an order: its link row
# is written just after the batch, and its BATCH_CREATED event is written with the batch.
creating_for = contextvars.ContextVar("creating_for_order", default=None)


@contextmanager
def _creating(order, continues=None):
    token = creating_for.set((order, continues))
    try:
        yield
    finally:
        creating_for.reset(token)


def lock_order(order):
    return ProductionOrder.objects.select_for_update().get(pk=order.pk)


# --- content -------------------------------------------------------------------------------


def _clean_quantities(values, errors):
    for name in ("quantity_ordered", "batch_size"):
        if values.get(name) is None:
            continue
        try:
            values[name] = clean_quantity(values[name], allow_zero=False)
        except ValidationError as error:
            errors[name] = error.messages


def create_order(
    *,
    actor,
    site,
    mbr,
    quantity_ordered,
    due_date,
    batch_size=None,
    reference="",
    continue_automatically=True,
    reason=None,
):
    """An open order for `quantity_ordered` of the product of `mbr` (approved) at `site`."""
    if not actor.has_perm("orders.add_productionorder"):
        raise NotPermitted("You do not have permission to create production orders.")
    with transaction.atomic():
        values = {"quantity_ordered": quantity_ordered, "batch_size": batch_size}
        errors = {}
        _clean_quantities(values, errors)
        if not actor.is_superuser and not actor.sites.filter(pk=site.pk).exists():
            errors["site"] = [f"You can only plan orders for your own sites, and {site.code} is not one of them."]
        mbr = MasterBatchRecord.objects.select_for_update().get(pk=mbr.pk)
        if mbr.status != MBRStatus.APPROVED:
            errors["mbr"] = [f"{mbr.mbr_id} (version {mbr.version}) is '{mbr.status}'; an order needs an approved MBR."]
        if errors:
            raise ValidationError(errors)
        order = ProductionOrder(
            site=site,
            mbr=mbr,
            quantity_ordered=values["quantity_ordered"],
            batch_size=values["batch_size"],
            due_date=due_date,
            reference=reference or "",
            continue_automatically=continue_automatically,
        )
        order.full_clean(exclude=["order_id"], validate_constraints=False)
        order.save(actor=actor, reason=reason or "Order placed")
        return order


def update_order(order, *, actor, reason=None, **changes):
    """Change what is planned while the order is open or in progress (409 otherwise)."""
    if not actor.has_perm("orders.change_productionorder"):
        raise NotPermitted("You do not have permission to change production orders.")
    errors = {}
    _clean_quantities(changes, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = lock_order(order)
        ordered = changes.get("quantity_ordered")
        if ordered is not None and ordered <= locked.quantity_completed:
            raise ValidationError(
                {
                    "quantity_ordered": [
                        f"must be more than the {locked.quantity_completed} already made; "
                        "to stop the order, cancel or close it."
                    ]
                }
            )
        return edit_record(locked, ORDER_WORKFLOW, actor=actor, reason=reason, **changes)


# --- batches of the order ----------------------------------------------------------------


def effective_mbr(order):
    """The MBR a new batch of the order is made from: of the order's product, approved and in
    effect today, the highest version (the order's own MBR while it is the one in effect;
    the version that superseded it afterwards). A Conflict names what is missing."""
    product_code = order.mbr.product_code
    mbr = (
        MasterBatchRecord.objects.filter(
            product_code=product_code, status=MBRStatus.APPROVED, effective_date__lte=timezone.localdate()
        )
        .order_by("-version")
        .first()
    )
    if mbr is None:
        raise Conflict(
            f"Cannot make a batch of {order.order_id}: product {product_code} has no approved master batch record "
            "in effect today.",
            current_status=order.status,
            action="create_batch",
        )
    return mbr


def quantity_unplanned(order):
    """What remains to make, less what batches not yet completed are planned to make."""
    planned = sum(
        (
            link.batch.quantity_planned
            for link in order.order_batches.select_related("batch").filter(batch__status__in=ACTIVE_BATCH_STATUSES)
        ),
        start=Decimal(0),
    )
    return order.quantity_remaining - planned


def _next_batch_quantity(order, unplanned):
    return min(order.batch_size, unplanned) if order.batch_size else unplanned


def _next_sequence(order):
    last = order.order_batches.order_by("-sequence").values_list("sequence", flat=True).first()
    return (last or 0) + 1


def _make_batch(order, *, actor, quantity_planned, continues=None, batch_number=None, lot_number=None, line=""):
    sequence = _next_sequence(order)
    default_number = f"{order.order_id}-{sequence:02d}"
    with _creating(order, continues):
        batch = create_batch(
            effective_mbr(order),
            actor=actor,
            batch_number=batch_number or default_number,
            lot_number=lot_number or default_number,
            quantity_planned=quantity_planned,
            site=order.site,
            production_line=line,
        )
        OrderBatch(order=order, batch=batch, sequence=sequence, continues=continues).save(
            actor=actor,
            reason=f"Continues {continues.batch_id}" if continues else f"Batch {sequence} of {order.order_id}",
        )
    return batch


def record_new_batch(order, act, *, quantity_planned=None, batch_number=None, lot_number=None, production_line=""):
    """Work of `create_batch`: a pending batch of the order (the order row is locked)."""
    if quantity_planned is None:
        unplanned = quantity_unplanned(order)
        if unplanned <= 0:
            raise Conflict(
                f"Cannot create a batch of {order.order_id}: its batches already plan all that remains to make "
                f"({order.quantity_remaining}); send `quantity_planned` to plan more.",
                current_status=order.status,
                action="create_batch",
            )
        quantity_planned = _next_batch_quantity(order, unplanned)
    act.result = None
    act.save = False  # the order's own fields do not change
    _make_batch(
        order,
        actor=act.actor,
        quantity_planned=quantity_planned,
        batch_number=batch_number,
        lot_number=lot_number,
        line=production_line,
    )


def record_linked_batch(order, act, *, batch):
    """Work of `link_batch`: an existing batch of the same site and product joins the order."""
    batch = BatchRecord.objects.select_for_update().select_related("mbr").get(pk=batch.pk)
    problems = []
    if batch.site_id != order.site_id:
        problems.append(f"{batch.batch_id} is made at another site")
    if batch.mbr.product_code != order.mbr.product_code:
        problems.append(f"{batch.batch_id} makes {batch.mbr.product_code}, the order {order.mbr.product_code}")
    if batch.status not in ACTIVE_BATCH_STATUSES:
        problems.append(f"{batch.batch_id} is '{batch.status}'; only a pending or in-progress batch can be linked")
    if OrderBatch.objects.filter(batch=batch).exists():
        problems.append(f"{batch.batch_id} already belongs to an order")
    if problems:
        raise ValidationError({"batch": problems})
    act.save = False
    sequence = _next_sequence(order)
    OrderBatch(order=order, batch=batch, sequence=sequence).save(
        actor=act.actor, reason=f"{batch.batch_id} linked as batch {sequence} of {order.order_id}"
    )
    if batch.status == BatchStatus.IN_PROGRESS and order.status == OrderStatus.OPEN:
        act.then(lambda: _advance(order, "start", actor=act.actor, reason=f"{batch.batch_id} is in production"))


def record_completed(order, act):
    order.completed_at = timezone.now()


def record_closed(order, act):
    order.closed_at = timezone.now()


def cancel_unstarted_batches(order, act):
    """Work of `cancel`: the order's pending batches are cancelled with it.

    Each pending batch moves to `cancelled` as declared in the batch workflow, as a
    consequence of the order's cancellation (the order's reason is the batch's disposition
    reason; nothing was made, so nothing of the batch is signed), and is kept in the records.
    """
    order.cancelled_at = timezone.now()
    cancelled = []
    links = order.order_batches.select_related("batch").filter(batch__status=BatchStatus.PENDING)
    for link in links.order_by("sequence"):
        batch = BatchRecord.objects.select_for_update().get(pk=link.batch_id)
        if batch.status != BatchStatus.PENDING:
            continue
        BATCH_WORKFLOW.apply(batch, "cancel")
        batch.disposition_reason = f"{order.order_id} cancelled: {act.reason}"
        batch.save(actor=act.actor, reason=batch.disposition_reason)
        cancelled.append(batch.batch_id)
    summary = [f"Cancelled: {act.reason}"]
    if cancelled:
        summary.append(f"pending batches cancelled: {', '.join(cancelled)}")
    act.history_reason = "; ".join(summary)


def _advance(order, action, *, actor, reason):
    """A move the order makes because of its batches (start, complete): its state and
    guards are those declared; the person is the one whose batch action caused it."""
    transition = ORDER_WORKFLOW.apply(order, action)
    facts = Facts()
    for guard in transition.guards:
        refused = guard(order, actor, facts)
        if refused is not None:
            raise refused
    work = transition.work_function()
    if work is not None:
        work(order, None)
    order.save(actor=actor, reason=reason)
    return order


# --- what a batch does to its order (called inside the batch's transaction) --------------


def order_link(batch):
    return OrderBatch.objects.filter(batch_id=batch.pk).select_related("order").first()


def check_batch_may_complete(batch):
    """Seed 000: a batch of a closed order cannot complete (409)."""
    link = order_link(batch)
    if link is not None and link.order.status == OrderStatus.CLOSED:
        raise Conflict(
            f"Cannot complete {batch.batch_id}: its production order {link.order.order_id} is closed.",
            current_status=batch.status,
            action="complete",
            order_status=link.order.status,
        )


def on_batch_started(batch, *, actor):
    link = order_link(batch)
    if link is None:
        return
    order = lock_order(link.order)
    if order.status == OrderStatus.OPEN:
        _advance(order, "start", actor=actor, reason=f"{batch.batch_id} started")


def on_batch_completed(batch, *, actor):
    """Count the batch's produced quantity; the last batch completes the order, otherwise
    the order continues with a new batch if it says so (same transaction)."""
    link = order_link(batch)
    if link is None:
        return
    order = lock_order(link.order)
    produced = batch.quantity_produced
    link.quantity_counted = produced
    link.save(actor=actor, reason=f"{batch.batch_id} completed: {produced} counted")
    order.quantity_completed += produced
    order.save(actor=actor, reason=f"{batch.batch_id} completed: {produced} made")
    if order.status != OrderStatus.IN_PROGRESS:
        return  # a cancelled or already completed order counts the batch, and no more
    if order.quantity_remaining <= 0:
        _advance(order, "complete", actor=actor, reason=f"{batch.batch_id} made the last of {order.quantity_ordered}")
    elif order.continue_automatically:
        _continue(order, batch, actor=actor)


def _continue(order, batch, *, actor):
    """The continuation batch. It is planned in the name of the order's planner (who set
    `continue_automatically`), and its history names the completion that caused it. If it
    cannot be made (no MBR in effect, the planner's rights gone, a number taken), the batch's
    completion still stands and the order says why in `continuation_problem`."""
    unplanned = quantity_unplanned(order)
    if unplanned <= 0:
        return  # other batches already plan what remains
    planner = order.created_by
    try:
        with transaction.atomic():
            _make_batch(order, actor=planner, quantity_planned=_next_batch_quantity(order, unplanned), continues=batch)
        problem = ""
    except (DomainError, ValidationError) as error:
        problem = f"After {batch.batch_id}: {getattr(error, 'message', None) or '; '.join(error.messages)}"
    if problem != order.continuation_problem:
        order.continuation_problem = problem
        order.save(actor=actor, reason=problem or "Continuation batch created")
