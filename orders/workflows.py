"""The production order's state machine, declared once (core.workflow).

open → in_progress when one of its batches starts; → completed when its batches have made
the quantity ordered; → closed by the planner. open or in_progress → cancelled, with a
reason: its batches not started are cancelled with it. `create_batch` and `link_batch`
keep the status; a closed, completed or cancelled order takes no batch (409).
"""

from core.exceptions import Conflict
from core.workflow import Transition, Workflow

from .choices import ORDER_PLANNING_STATUSES, OrderStatus

APP = "orders"
WORK = "orders.services"


def a_batch_has_started(order, user, facts):
    from batch_records.choices import BatchStatus

    if not order.order_batches.exclude(batch__status=BatchStatus.PENDING).exists():
        return Conflict(f"Cannot start {order.order_id}: none of its batches has started.", current_status=order.status)
    return None


def nothing_remains(order, user, facts):
    if order.quantity_remaining > 0:
        return Conflict(
            f"Cannot complete {order.order_id}: {order.quantity_remaining} of {order.quantity_ordered} remain to make.",
            current_status=order.status,
            quantity_remaining=str(order.quantity_remaining),
        )
    return None


_PLANNING_FIELDS = ["reference", "quantity_ordered", "batch_size", "due_date", "continue_automatically"]

ORDER_WORKFLOW = Workflow(
    Transition(
        "create_batch",
        sources=ORDER_PLANNING_STATUSES,
        target=None,
        permission=f"{APP}.plan_batch_productionorder",
        work=f"{WORK}.record_new_batch",
        doc="A new pending batch of the order (open or in progress; 409 otherwise), from the MBR of its product "
        "in effect today. `quantity_planned` defaults to the batch size, at most what is not yet planned; "
        "`batch_number` and `lot_number` default to <order ID>-<sequence>.",
    ),
    Transition(
        "link_batch",
        sources=ORDER_PLANNING_STATUSES,
        target=None,
        permission=f"{APP}.plan_batch_productionorder",
        work=f"{WORK}.record_linked_batch",
        doc="Link an existing `batch` of the same site and product, pending or in progress and of no other order.",
    ),
    # The next two are moved by the order's batches (orders.signals), not by a person.
    Transition(
        "start",
        sources=[OrderStatus.OPEN],
        target=OrderStatus.IN_PROGRESS,
        permission=f"{APP}.progress_productionorder",
        guards=[a_batch_has_started],
        doc="open → in_progress: done by the order itself when one of its batches starts.",
    ),
    Transition(
        "complete",
        sources=[OrderStatus.IN_PROGRESS],
        target=OrderStatus.COMPLETED,
        permission=f"{APP}.progress_productionorder",
        guards=[nothing_remains],
        work=f"{WORK}.record_completed",
        doc="in_progress → completed: done by the order itself when its batches have made the quantity ordered.",
    ),
    Transition(
        "close",
        sources=[OrderStatus.COMPLETED],
        target=OrderStatus.CLOSED,
        permission=f"{APP}.close_productionorder",
        work=f"{WORK}.record_closed",
        doc="completed → closed: the order is settled and takes nothing more (a batch of it can no longer complete).",
    ),
    Transition(
        "cancel",
        sources=ORDER_PLANNING_STATUSES,
        target=OrderStatus.CANCELLED,
        permission=f"{APP}.cancel_productionorder",
        reason_required=True,
        work=f"{WORK}.cancel_unstarted_batches",
        doc="open|in_progress → cancelled, with the `reason`: its batches not started are cancelled with it; "
        "batches already in production continue and are still counted.",
    ),
    editable={OrderStatus.OPEN: _PLANNING_FIELDS, OrderStatus.IN_PROGRESS: _PLANNING_FIELDS},
)
