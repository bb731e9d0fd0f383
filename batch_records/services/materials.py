"""Business actions on the materials of a batch (21 CFR 211.101, 211.184): dispense a lot
(signed "dispensed"), verify it by a second person (signed "verified"), record the quantity
consumed, or return what was not used.

Each action locks the batch row first, then the material (the one lock order of batch
execution), re-checks statuses on what it locked, and signs after the change so that the
signature's hash covers the quantities recorded.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from batch_records.choices import DeviationType
from batch_records.workflows import MATERIAL_WORKFLOW
from core.quantities import NON_NEGATIVE, POSITIVE, decimal_problem
from inventory import allocation
from inventory.models import Material

from .deviations import open_batch_deviation
from .guards import MATERIAL_LIMIT, MATERIAL_PLACES, material_tolerance_percent

PERCENT_PLACES = Decimal("0.01")


def clean_material_quantity(value, *, field, allow_zero):
    """`value` as a Decimal fit for a material quantity (4 places), else a 400 naming `field`."""
    sign = NON_NEGATIVE if allow_zero else POSITIVE
    number, problem = decimal_problem(value, places=4, limit=MATERIAL_LIMIT, sign=sign)
    if problem:
        raise ValidationError({field: [problem]})
    # As the database stores it, so that a signature's hash taken now matches it later.
    return number.quantize(MATERIAL_PLACES)


def _both_units(material, quantity, stock_quantity):
    """'1.5 g (0.0015 kg)' where the line and the stock units differ, else '1.5 kg'."""
    text = f"{quantity} {material.unit_of_measure}"
    if stock_quantity is not None and material.stock_unit_of_measure != material.unit_of_measure:
        text += f" ({stock_quantity} {material.stock_unit_of_measure})"
    return text


def _usage_outside_tolerance(material, tolerance):
    """The signed difference of used against required, in percent, when it exceeds the
    tolerance; None when the usage is within it (limits inclusive)."""
    difference = (material.quantity_used - material.quantity_required) / material.quantity_required * 100
    if abs(difference) <= tolerance:
        return None
    return difference.quantize(PERCENT_PLACES)


def _usage_deviation_text(material, batch, difference, tolerance):
    unit = material.unit_of_measure
    direction = "more" if difference > 0 else "less"
    return (
        f"Material usage outside tolerance in {batch.batch_id}: {material.material_code} "
        f"({material.material_name}), lot {material.lot_number}, line {material.line_number}: "
        f"{material.quantity_used} {unit} used against {material.quantity_required} {unit} required "
        f"({abs(difference)}% {direction}; tolerance ±{tolerance}%; {material.quantity_dispensed} {unit} dispensed). "
        "21 CFR 211.192: to be investigated before release."
    )


# --- the work of each transition ---------------------------------------------------------


def record_dispense(material, act, *, quantity, lot_number="", lot_plan=None, auto=False):
    """`actor` weighs out `quantity` for the batch (21 CFR 211.101(c)). The stock comes from
    inventory lots (21 CFR 211.84): the lot named by `lot_number`, an explicit `lot_plan`
    [{"lot", "quantity"}], or FEFO with `auto`; consumption movements and the lots drawn
    are recorded in this transaction."""
    lot_number = (lot_number or "").strip()
    errors = allocation.dispense_source_errors(lot_number, lot_plan, auto)
    try:
        quantity = clean_material_quantity(quantity, field="quantity", allow_zero=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    drawn = allocation.draw_lots_for_dispense(
        material.batch,
        material,
        actor=act.actor,
        quantity=quantity,
        lot_number=lot_number,
        lot_plan=lot_plan,
        auto=auto,
    )
    material.lot_number = drawn.lot_number
    material.quantity_dispensed = quantity
    material.stock_unit_of_measure = drawn.stock_unit
    material.stock_quantity_dispensed = drawn.stock_quantity
    material.dispensed_by = act.actor
    material.dispensed_at = timezone.now()
    act.history_reason = act.comment or (
        f"Dispensed {_both_units(material, quantity, drawn.stock_quantity)} of lot {drawn.lot_number}"
    )


def record_verification(material, act):
    """A second person checks the material, lot and quantity dispensed."""
    material.verified_by = act.actor
    material.verified_at = timezone.now()
    act.history_reason = act.comment or "Dispensing verified"


def record_consumption(material, act, *, quantity_used):
    """The quantity actually used (at most what was dispensed). A usage further from
    `quantity_required` than the tolerance is recorded all the same (it happened) and opens
    a material_issue deviation for QA (21 CFR 211.192)."""
    quantity_used = clean_material_quantity(quantity_used, field="quantity_used", allow_zero=True)
    if quantity_used > material.quantity_dispensed:
        raise ValidationError(
            {
                "quantity_used": [
                    f"{quantity_used} {material.unit_of_measure} is more than the "
                    f"{material.quantity_dispensed} {material.unit_of_measure} dispensed."
                ]
            }
        )
    stock_used = None
    if material.stock_unit_of_measure:
        stock_material = Material.objects.get(code=material.material_code)
        stock_used = allocation.to_stock_unit(
            stock_material, quantity_used, material.unit_of_measure, field="quantity_used"
        )
    material.quantity_used = quantity_used
    material.stock_quantity_used = stock_used
    material.consumed_by = act.actor
    material.consumed_at = timezone.now()
    act.history_reason = f"Consumed {_both_units(material, quantity_used, stock_used)}"
    tolerance = material_tolerance_percent()
    difference = _usage_outside_tolerance(material, tolerance)
    if difference is not None:
        batch = material.batch
        # has_deviations follows through the deviation's post_save signal.
        act.then(
            lambda: open_batch_deviation(
                batch,
                actor=act.actor,
                deviation_type=DeviationType.MATERIAL_ISSUE,
                description=_usage_deviation_text(material, batch, difference, tolerance),
                batch_material=material,
            )
        )


def record_return(material, act):
    """The material goes back unused: what was drawn returns into the same lots, as return
    movements."""
    material.returned_at = timezone.now()
    material.return_reason = act.reason
    act.history_reason = f"Returned: {act.reason}"
    act.then(lambda: allocation.return_drawn_lots(material, actor=act.actor, reason=act.reason))


# --- entry points ------------------------------------------------------------------------------


def dispense_material(
    material, *, actor, quantity, password, lot_number="", lot_plan=None, auto=False, comment="", username=None
):
    """pending → dispensed, signed "dispensed"."""
    return MATERIAL_WORKFLOW.perform(
        material,
        "dispense",
        actor=actor,
        quantity=quantity,
        lot_number=lot_number,
        lot_plan=lot_plan,
        auto=auto,
        password=password,
        comment=comment,
        username=username,
    )


def verify_material(material, *, actor, password, comment="", username=None):
    """dispensed → verified by a second person, signed "verified"."""
    return MATERIAL_WORKFLOW.perform(
        material, "verify", actor=actor, password=password, comment=comment, username=username
    )


def consume_material(material, *, actor, quantity_used):
    """verified → consumed with the quantity actually used."""
    return MATERIAL_WORKFLOW.perform(material, "consume", actor=actor, quantity_used=quantity_used)


def return_material(material, *, actor, reason):
    """dispensed|verified → returned, with the reason why."""
    return MATERIAL_WORKFLOW.perform(material, "return", actor=actor, reason=reason)
