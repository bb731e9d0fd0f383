"""The audit trail of an export: every history row of the batch and its children, oldest
first, with field-level changes (references shown by their labels, users by username),
and each step's values as first entered with every later correction.

History is read once per model, in chunks: a long batch has thousands of rows.
"""

from django.contrib.auth import get_user_model

from batch_records.models import BatchStep
from core.audit import HISTORY_TYPES, field_changes, tracked_fields

from .reading import RECORDS, person, utc

# History rows fetched per round trip.
HISTORY_CHUNK_SIZE = 2000


def _reference_fields(history_model):
    """{field name: (related model, is a user)} for the foreign keys of a history model."""
    user_model = get_user_model()
    references = {}
    for field in tracked_fields(history_model):
        if field.is_relation and field.related_model is not None:
            related = field.related_model
            references[field.name] = (related, related is user_model)
    return references


def _resolve(value, related, labels):
    if value is None:
        return None
    return labels.references.get(related, {}).get(value, value)


def _value_changes(previous, row):
    """[{field, old, new}] of the recorded values between two history rows of a step."""
    old, new = previous or {}, row or {}
    return [
        {"field": name, "old": old.get(name), "new": new.get(name)}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def audit_trail(batch_pk, labels, corrected_steps):
    """Every history row of the batch and its children, oldest first, with field-level
    changes; and, per step, the values as first entered and each later change to them."""
    entries = []
    user_refs = []  # (change dict, key) pairs whose value is a user id, resolved at the end
    corrections = {}
    for order, (model, kind, lookup) in enumerate(RECORDS):
        history_model = model.history.model
        fields = tracked_fields(history_model)
        references = _reference_fields(history_model)
        rows = (
            model.history.filter(**{lookup: batch_pk})
            .select_related("history_user")
            .order_by("id", "history_id")
            .iterator(chunk_size=HISTORY_CHUNK_SIZE)
        )
        previous = None
        for row in rows:
            if previous is not None and previous.id != row.id:
                previous = None
            changes = field_changes(previous, row, fields)
            for change in changes:
                reference = references.get(change["field"])
                if reference is None:
                    continue
                related, is_user = reference
                if is_user:
                    user_refs.append(change)
                else:
                    change["old"] = _resolve(change["old"], related, labels)
                    change["new"] = _resolve(change["new"], related, labels)
            if model is BatchStep and row.id in corrected_steps:
                _track_values(corrections, previous, row)
            entries.append(
                {
                    "at": utc(row.history_date),
                    "record_type": kind,
                    "record": labels.record(model, row),
                    "action": HISTORY_TYPES.get(row.history_type, row.history_type),
                    "user": row.history_user.get_username() if row.history_user_id else None,
                    "user_name": (row.history_user.get_full_name() or row.history_user.get_username())
                    if row.history_user_id
                    else None,
                    "reason": row.history_change_reason or "",
                    "changes": changes,
                    "_order": (row.history_date, order, row.history_id),
                }
            )
            previous = row
    _resolve_users(user_refs)
    entries.sort(key=lambda entry: entry["_order"])
    for entry in entries:
        del entry["_order"]
    return entries, corrections


def _track_values(corrections, previous, row):
    """Record the first entry of a step's values and each later change to them."""
    before = previous.actual_values if previous is not None else {}
    after = row.actual_values or {}
    if before == after:
        return
    original, changes = corrections.setdefault(row.id, [None, []])
    if not before:
        corrections[row.id][0] = after
        return
    user = row.history_user if row.history_user_id else None
    changes.append(
        {
            "number": len(changes) + 1,
            "at": utc(row.history_date),
            "by": person(user),
            "reason": row.history_change_reason or "",
            "old_values": before,
            "new_values": after,
            "changes": _value_changes(before, after),
        }
    )


def _resolve_users(changes):
    """Show usernames instead of user ids in the audit trail: one query for all of them."""
    ids = {value for change in changes for value in (change["old"], change["new"]) if value is not None}
    if not ids:
        return
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for change in changes:
        change["old"] = names.get(change["old"], change["old"])
        change["new"] = names.get(change["new"], change["new"])
