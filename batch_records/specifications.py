"""The values an operator records in a batch step, and how they are judged.

`clean_actual_values` types the values against the step's `required_data_fields` (every
field present, each of its declared type, nothing else); `evaluate_specifications` checks
the number fields against the step's `specifications`, limits inclusive. Numbers are kept
as decimal strings ("10.50"), never floats, so what is stored and signed is what was read.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from core.quantities import to_decimal

NUMBER, TEXT, BOOLEAN, CHOICE = "number", "text", "boolean", "choice"
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")


def _clean_value(kind, value, choices=()):
    """(cleaned value, None) or (None, problem) for one recorded value of type `kind`."""
    if kind == CHOICE:
        if isinstance(value, str) and value in choices:
            return value, None
        return None, f"{value!r} is not a valid choice; valid choices: {', '.join(choices)}"
    if kind == NUMBER:
        number = to_decimal(value)
        if number is None:
            if isinstance(value, str) and _DECIMAL_COMMA.fullmatch(value.strip()):
                # A tablet keyboard in a comma locale: say what to type instead.
                return None, f"a number is required (use a decimal point: {value.strip().replace(',', '.')})"
            return None, "a number is required"
        return format(number, "f"), None
    if kind == TEXT:
        if not isinstance(value, str):
            return None, "a text is required"
        if not value.strip():
            return None, "a non-empty text is required"
        return value, None
    if kind == BOOLEAN:
        if not isinstance(value, bool):
            return None, "true or false is required"
        return value, None
    return None, f"the step declares an unknown type '{kind}'"


def clean_actual_values(required_data_fields, actual_values):
    """The recorded values, typed and normalised; a ValidationError on `actual_values`
    lists every missing, mistyped or unknown field ("blend_time: a number is required")."""
    if not isinstance(actual_values, dict):
        raise ValidationError({"actual_values": ["must be an object of field name to value"]})
    declared = {field["name"]: field.get("type") for field in required_data_fields}
    choices = {field["name"]: field.get("choices") or () for field in required_data_fields}
    problems, cleaned = [], {}
    for name, kind in declared.items():
        if name not in actual_values or actual_values[name] is None:
            problems.append(f"{name}: this field is required")
            continue
        value, problem = _clean_value(kind, actual_values[name], choices[name])
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            cleaned[name] = value
    for name in sorted(set(actual_values) - set(declared)):
        problems.append(f"{name}: not a data field of this step")
    if problems:
        raise ValidationError({"actual_values": problems})
    return cleaned


@dataclass(frozen=True)
class Excursion:
    """One value outside its specification."""

    field: str
    value: Decimal
    minimum: Decimal | None
    maximum: Decimal | None

    def describe(self):
        limits = []
        if self.minimum is not None:
            limits.append(f"min {self.minimum}")
        if self.maximum is not None:
            limits.append(f"max {self.maximum}")
        return f"{self.field} = {self.value} is outside its specification ({', '.join(limits)})"


def evaluate_specifications(specifications, actual_values):
    """The excursions of cleaned `actual_values` from `specifications` ({field: {min?, max?}}),
    min and max inclusive; an empty list means within spec. A limit on a field without a
    numeric value cannot be met and counts as an excursion rather than a silent pass."""
    excursions = []
    for name in sorted(specifications):
        limits = specifications[name] or {}
        minimum, maximum = to_decimal(limits.get("min")), to_decimal(limits.get("max"))
        if minimum is None and maximum is None:
            continue
        value = to_decimal(actual_values.get(name))
        below = value is None or (minimum is not None and value < minimum)
        above = value is None or (maximum is not None and value > maximum)
        if below or above:
            excursions.append(Excursion(name, value, minimum, maximum))
    return excursions
