"""Stopping a batch for good (issue 19): cancel one that has not started, abort one in
production. Both are declared in the batch workflow table (reason required, signed) and run
through `BATCH_WORKFLOW.perform`: one transaction, the batch row locked first.

- Cancel (pending → cancelled, signed "cancelled"): the batch will not be made. It is kept,
  with its reason, and is final: nothing in it changes any more and it is never deleted.
- Abort (in_progress → aborted, signed "aborted"): what was dispensed and not consumed goes
  back to its lots as return movements of the ledger, or, for the lines named in
  `write_off`, is written off (the material was spoiled: the stock already left its lots at
  dispensing, and the line says why it never comes back). Reservations are released. The
  batch then waits for QA to reject it (aborted → rejected).
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from batch_records.choices import MaterialStatus
from batch_records.models import BatchMaterial
from batch_records.workflows import BATCH_WORKFLOW, MATERIAL_WORKFLOW
from inventory import allocation, reservations

DRAWN = (MaterialStatus.DISPENSED, MaterialStatus.VERIFIED)


def record_cancellation(batch, act):
    batch.disposition_reason = act.reason
    act.history_reason = f"Cancelled: {act.reason}"
    reservations.release_batch_reservations(batch, actor=act.actor, reason=f"{batch.batch_id} cancelled")


def _clean_write_off(write_off, lines):
    """The line numbers to write off; 400 naming `write_off[i]` for one that is not a line
    of the batch holding dispensed material."""
    if write_off in (None, ""):
        return set()
    if not isinstance(write_off, (list, tuple)):
        raise ValidationError({"write_off": ["A list of material line numbers (e.g. [1, 3])."]})
    by_number = {line.line_number: line for line in lines}
    numbers, errors = set(), {}
    for index, number in enumerate(write_off):
        line = by_number.get(number) if isinstance(number, int) and not isinstance(number, bool) else None
        if line is None:
            errors[f"write_off[{index}]"] = [f"{number!r} is not a material line number of this batch."]
        elif line.status not in DRAWN:
            errors[f"write_off[{index}]"] = [
                f"Line {number} ({line.material_code}) is '{line.status}': only dispensed material can be written off."
            ]
        else:
            numbers.add(number)
    if errors:
        raise ValidationError(errors)
    return numbers


def record_abort(batch, act, write_off=None):
    # Lock order: the batch (locked by perform), its material lines, then their lots.
    lines = list(BatchMaterial.objects.select_for_update().filter(batch_id=batch.pk).order_by("pk"))
    written_off = _clean_write_off(write_off, lines)
    now = timezone.now()
    for line in sorted(lines, key=lambda line: line.line_number):
        if line.status not in DRAWN:
            continue
        if line.line_number in written_off:
            line.status = MaterialStatus.WRITTEN_OFF
            line.return_reason = f"Written off: batch aborted: {act.reason}"
            line.save(actor=act.actor, reason=line.return_reason)
            continue
        MATERIAL_WORKFLOW.apply(line, "return")
        line.returned_at = now
        line.return_reason = f"Batch aborted: {act.reason}"
        line.save(actor=act.actor, reason=line.return_reason)
        allocation.return_drawn_lots(line, actor=act.actor, reason=line.return_reason)
    reservations.release_batch_reservations(batch, actor=act.actor, reason=f"{batch.batch_id} aborted")
    batch.disposition_reason = act.reason
    act.history_reason = f"Aborted: {act.reason}"


def cancel_batch(batch, *, actor, reason, password, comment="", username=None):
    """pending → cancelled (see the module docstring)."""
    return BATCH_WORKFLOW.perform(
        batch, "cancel", actor=actor, password=password, reason=reason, comment=comment, username=username
    )


def abort_batch(batch, *, actor, reason, password, write_off=None, comment="", username=None):
    """in_progress → aborted (see the module docstring)."""
    return BATCH_WORKFLOW.perform(
        batch,
        "abort",
        actor=actor,
        password=password,
        reason=reason,
        comment=comment,
        username=username,
        write_off=write_off,
    )
