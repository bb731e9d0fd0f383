"""Validation of a master batch record's JSON content (SPEC §3).

Each cleaner checks one JSON field and answers its normalised value: keys an author may
leave out get their default, quantities are kept as decimal strings (no float rounding).
Every problem is reported under the path of the bad element, as a django ValidationError
(400 through the API), e.g. {"manufacturing_instructions[2].specifications.ph.min":
["must be a number"]}, which the API shows as the message
`manufacturing_instructions[2].specifications.ph.min: must be a number`.
"""

import math
from decimal import Decimal

from django.core.exceptions import ValidationError

from core import units
from core.quantities import decimal_problem

DATA_FIELD_TYPES = ("number", "text", "boolean", "choice")
QUANTITY_MAX_DECIMAL_PLACES = 6
QUANTITY_MAX = Decimal("1000000000")
YIELD_LIMIT_MIN, YIELD_LIMIT_MAX = Decimal("0"), Decimal("1000")

BOM_KEYS = {"material_code", "material_name", "quantity_per_unit", "unit_of_measure"}
INSTRUCTION_KEYS = {
    "step_number",
    "instruction_text",
    "required_data_fields",
    "specifications",
    "requires_verification",
    # Medical-device units may pass an optional step without it (serialized batches).
    "optional",
    # A timed step: started, then completed (never recorded in one call).
    "requires_separate_start",
}
DATA_FIELD_KEYS = {"name", "type", "unit", "choices"}
LIMIT_KEYS = {"min", "max"}
QUALITY_KEYS = {"parameter", "min", "max", "unit"}


class _Errors:
    """Collects messages by element path for one top-level field."""

    def __init__(self, field):
        self.field = field
        self.by_path = {}

    def add(self, path, message):
        self.by_path.setdefault(path, []).append(message)

    def raise_if_any(self):
        if self.by_path:
            raise ValidationError(self.by_path)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _decimal_string(number):
    """'0.50' stays '0.50'; '5E+1' becomes '50'."""
    return format(number, "f")


def _check_object(errors, path, value, allowed, required):
    """True if `value` is an object with the required keys and no unknown ones."""
    if not isinstance(value, dict):
        errors.add(path, "must be an object")
        return False
    ok = True
    for key in sorted(set(value) - allowed):
        errors.add(f"{path}.{key}", "unknown key")
        ok = False
    for key in sorted(required - set(value)):
        errors.add(f"{path}.{key}", "this field is required")
        ok = False
    return ok


def _check_text(errors, path, value, *, blank=False):
    if not isinstance(value, str):
        errors.add(path, "must be a string")
        return False
    if not blank and not value.strip():
        errors.add(path, "must not be blank")
        return False
    return True


def _clean_limits(errors, path, value):
    """{"min"?, "max"?}: numbers with min ≤ max; null means no limit. Answers the cleaned dict."""
    cleaned = {}
    for key in ("min", "max"):
        limit = value.get(key)
        if limit is None:
            continue
        if not _is_number(limit):
            errors.add(f"{path}.{key}", "must be a number")
            continue
        cleaned[key] = limit
    if "min" in cleaned and "max" in cleaned and cleaned["min"] > cleaned["max"]:
        errors.add(f"{path}.min", f"must not be greater than max ({cleaned['max']})")
    return cleaned


def _check_list(errors, value):
    if not isinstance(value, list):
        errors.add(errors.field, "must be a list")
        return False
    return True


def clean_bill_of_materials(value, field="bill_of_materials"):
    errors = _Errors(field)
    if not _check_list(errors, value):
        errors.raise_if_any()
    cleaned = []
    for index, line in enumerate(value):
        path = f"{field}[{index}]"
        if not _check_object(errors, path, line, BOM_KEYS, BOM_KEYS):
            continue
        for key in ("material_code", "material_name", "unit_of_measure"):
            _check_text(errors, f"{path}.{key}", line[key])
        quantity, problem = decimal_problem(
            line["quantity_per_unit"], places=QUANTITY_MAX_DECIMAL_PLACES, limit=QUANTITY_MAX
        )
        if problem:
            errors.add(f"{path}.quantity_per_unit", problem)
            continue
        cleaned.append({**line, "quantity_per_unit": _decimal_string(quantity)})
    errors.raise_if_any()
    return cleaned


def _check_choices(errors, path, kind, choices):
    """A `choice` field lists its valid values (distinct non-empty texts); no other type has any."""
    if kind != "choice":
        if choices is not None:
            errors.add(path, "only a field of type choice has choices")
        return
    if not isinstance(choices, list) or not choices:
        errors.add(path, "must be a non-empty list of texts")
        return
    if not all(isinstance(choice, str) and choice.strip() for choice in choices):
        errors.add(path, "must be a non-empty list of texts")
    elif len(set(choices)) != len(choices):
        errors.add(path, "must not repeat a choice")


def _clean_data_fields(errors, path, value):
    """Answers {name: type} of the well-formed fields, and the cleaned list."""
    if not isinstance(value, list):
        errors.add(path, "must be a list")
        return {}, []
    types, cleaned = {}, []
    for index, data_field in enumerate(value):
        field_path = f"{path}[{index}]"
        if not _check_object(errors, field_path, data_field, DATA_FIELD_KEYS, {"name", "type"}):
            continue
        name, kind = data_field["name"], data_field["type"]
        name_ok = _check_text(errors, f"{field_path}.name", name)
        if name_ok and name in types:
            errors.add(f"{field_path}.name", f"duplicate field name '{name}' in this step")
            name_ok = False
        if kind not in DATA_FIELD_TYPES:
            errors.add(f"{field_path}.type", f"must be one of {', '.join(DATA_FIELD_TYPES)}")
        unit = data_field.get("unit")
        if unit is not None:
            _check_text(errors, f"{field_path}.unit", unit, blank=True)
        _check_choices(errors, f"{field_path}.choices", kind, data_field.get("choices"))
        if name_ok:
            types[name] = kind
        cleaned.append(data_field)
    return types, cleaned


def _clean_specifications(errors, path, value, field_types):
    if not isinstance(value, dict):
        errors.add(path, "must be an object")
        return {}
    cleaned = {}
    for name, limits in value.items():
        spec_path = f"{path}.{name}"
        if name not in field_types:
            errors.add(spec_path, "must name a required data field of this step")
            continue
        if field_types[name] != "number":
            errors.add(spec_path, f"'{name}' is a {field_types[name]} field; only number fields take min/max")
            continue
        if not _check_object(errors, spec_path, limits, LIMIT_KEYS, set()):
            continue
        cleaned[name] = _clean_limits(errors, spec_path, limits)
    return cleaned


def clean_manufacturing_instructions(value, field="manufacturing_instructions"):
    errors = _Errors(field)
    if not _check_list(errors, value):
        errors.raise_if_any()
    cleaned, previous = [], None
    for index, step in enumerate(value):
        path = f"{field}[{index}]"
        if not _check_object(errors, path, step, INSTRUCTION_KEYS, {"step_number", "instruction_text"}):
            continue
        number = step["step_number"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            errors.add(f"{path}.step_number", "must be an integer of at least 1")
        elif previous is not None and number == previous:
            errors.add(f"{path}.step_number", f"duplicate step number {number}")
        elif previous is not None and number < previous:
            errors.add(f"{path}.step_number", f"must be greater than the previous step number ({previous})")
        else:
            previous = number
        _check_text(errors, f"{path}.instruction_text", step["instruction_text"])
        field_types, data_fields = _clean_data_fields(
            errors, f"{path}.required_data_fields", step.get("required_data_fields", [])
        )
        specifications = _clean_specifications(
            errors, f"{path}.specifications", step.get("specifications", {}), field_types
        )
        flags = {"requires_verification": step.get("requires_verification", False)}
        if "optional" in step:  # kept only where the author says so
            flags["optional"] = step["optional"]
        if "requires_separate_start" in step:
            flags["requires_separate_start"] = step["requires_separate_start"]
        for flag, flag_value in flags.items():
            if not isinstance(flag_value, bool):
                errors.add(f"{path}.{flag}", "must be true or false")
        cleaned.append(
            {
                "step_number": number,
                "instruction_text": step["instruction_text"],
                "required_data_fields": data_fields,
                "specifications": specifications,
                **flags,
            }
        )
    errors.raise_if_any()
    return cleaned


def clean_quality_specifications(value, field="quality_specifications"):
    errors = _Errors(field)
    if not _check_list(errors, value):
        errors.raise_if_any()
    cleaned, seen = [], set()
    for index, spec in enumerate(value):
        path = f"{field}[{index}]"
        if not _check_object(errors, path, spec, QUALITY_KEYS, {"parameter"}):
            continue
        parameter = spec["parameter"]
        if _check_text(errors, f"{path}.parameter", parameter):
            if parameter in seen:
                errors.add(f"{path}.parameter", f"duplicate parameter '{parameter}'")
            seen.add(parameter)
        unit = spec.get("unit")
        if unit is not None:
            _check_text(errors, f"{path}.unit", unit, blank=True)
        limits = _clean_limits(errors, path, spec)
        line = {"parameter": parameter, **limits}
        if unit is not None:
            line["unit"] = unit
        cleaned.append(line)
    errors.raise_if_any()
    return cleaned


def clean_yield_limits(minimum, maximum):
    """Yield limits in percent of theoretical: each within 0..1000, min ≤ max."""
    errors = {}
    for field, value in (("yield_limit_min", minimum), ("yield_limit_max", maximum)):
        if value is not None and not (YIELD_LIMIT_MIN <= Decimal(value) <= YIELD_LIMIT_MAX):
            errors[field] = [f"must be between {YIELD_LIMIT_MIN} and {YIELD_LIMIT_MAX} (percent of theoretical)"]
    if not errors and minimum is not None and maximum is not None and Decimal(minimum) > Decimal(maximum):
        errors["yield_limit_min"] = [f"must not be greater than yield_limit_max ({maximum})"]
    if errors:
        raise ValidationError(errors)


CONTENT_CLEANERS = {
    "manufacturing_instructions": clean_manufacturing_instructions,
    "bill_of_materials": clean_bill_of_materials,
    "quality_specifications": clean_quality_specifications,
}

# What a batch cannot be made without (SPEC §3): the empty list is refused at submit/approve.
REQUIRED_FOR_APPROVAL = {"manufacturing_instructions": "instruction", "bill_of_materials": "material line"}


def bill_of_materials_unit_errors(lines, field="bill_of_materials"):
    """{path: [message]} for each BOM line whose unit is unknown or does not convert to the
    unit its material is kept in (21 CFR 211.101(a)): a line in g of a material kept in kg
    draws grams; kg against L without a density, or kg against each, can never be drawn."""
    # Imported here: validation is loaded by the models' app before inventory is ready.
    from inventory.models import Material

    materials = {
        material.code: material
        for material in Material.objects.filter(code__in={line["material_code"] for line in lines})
    }
    errors = {}
    for index, line in enumerate(lines):
        path = f"{field}[{index}].unit_of_measure"
        unit = line["unit_of_measure"]
        try:
            units.lookup(unit)
        except units.UnitError as error:
            errors[path] = [f"line {index + 1} ({line['material_code']}): {error}"]
            continue
        material = materials.get(line["material_code"])
        if material is None:
            continue
        problem = units.conversion_problem(unit, material.unit_of_measure, material.density)
        if problem:
            errors[path] = [
                f"line {index + 1} ({line['material_code']}) is in '{unit}' but the material is kept in "
                f"'{material.unit_of_measure}': {problem}"
            ]
    return errors


def clean_mbr_content(mbr, *, complete=False):
    """Validate the JSON content and yield limits of `mbr` in place (normalising them).

    `complete`: also require at least one instruction and one BOM line, and units that
    convert to the materials' units, as submit and approve do. Raises one ValidationError
    listing every element in error.
    """
    errors = {}
    for field, cleaner in CONTENT_CLEANERS.items():
        try:
            setattr(mbr, field, cleaner(getattr(mbr, field)))
        except ValidationError as error:
            errors.update(error.message_dict)
            continue
        if complete and not getattr(mbr, field) and field in REQUIRED_FOR_APPROVAL:
            errors[field] = [f"at least one {REQUIRED_FOR_APPROVAL[field]} is required to submit or approve"]
    if complete and "bill_of_materials" not in errors:
        errors.update(bill_of_materials_unit_errors(mbr.bill_of_materials))
    try:
        clean_yield_limits(mbr.yield_limit_min, mbr.yield_limit_max)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return mbr
