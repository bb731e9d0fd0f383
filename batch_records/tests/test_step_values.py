"""Typing of recorded values and their evaluation against specifications (no database)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from batch_records.specifications import clean_actual_values, evaluate_specifications
from core.quantities import to_decimal

FIELDS = [
    {"name": "blend_time", "type": "number", "unit": "min"},
    {"name": "appearance_ok", "type": "boolean"},
    {"name": "remarks", "type": "text"},
]


def problems(values):
    with pytest.raises(ValidationError) as caught:
        clean_actual_values(FIELDS, values)
    return caught.value.message_dict["actual_values"]


def test_values_of_each_type_are_accepted_and_numbers_kept_as_decimal_strings():
    cleaned = clean_actual_values(FIELDS, {"blend_time": 10.5, "appearance_ok": False, "remarks": "fine"})
    assert cleaned == {"blend_time": "10.5", "appearance_ok": False, "remarks": "fine"}


@pytest.mark.parametrize(("given", "stored"), [(10, "10"), ("10.50", "10.50"), (" 9.0 ", "9.0"), ("1E+1", "10")])
def test_numbers_may_be_json_numbers_or_numeric_strings(given, stored):
    values = {"blend_time": given, "appearance_ok": True, "remarks": "ok"}
    assert clean_actual_values(FIELDS, values)["blend_time"] == stored


def test_missing_field_is_named():
    assert problems({"appearance_ok": True, "remarks": "ok"}) == ["blend_time: this field is required"]


def test_null_counts_as_missing():
    assert problems({"blend_time": None, "appearance_ok": True, "remarks": "ok"}) == [
        "blend_time: this field is required"
    ]


@pytest.mark.parametrize("value", [True, False, "ten", "NaN", "Infinity", [], {}])
def test_number_field_refuses_non_numbers_including_booleans(value):
    assert problems({"blend_time": value, "appearance_ok": True, "remarks": "ok"}) == [
        "blend_time: a number is required"
    ]


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_boolean_field_takes_only_true_or_false(value):
    messages = problems({"blend_time": 10, "appearance_ok": value, "remarks": "ok"})
    expected = "appearance_ok: this field is required" if value is None else "appearance_ok: true or false is required"
    assert messages == [expected]


@pytest.mark.parametrize(("value", "message"), [(5, "a text is required"), ("  ", "a non-empty text is required")])
def test_text_field_takes_a_non_empty_string(value, message):
    assert problems({"blend_time": 10, "appearance_ok": True, "remarks": value}) == [f"remarks: {message}"]


def test_unknown_keys_are_refused():
    values = {"blend_time": 10, "appearance_ok": True, "remarks": "ok", "temperature": 20}
    assert problems(values) == ["temperature: not a data field of this step"]


def test_every_problem_is_listed_at_once():
    assert problems({"blend_time": "x", "extra": 1}) == [
        "blend_time: a number is required",
        "appearance_ok: this field is required",
        "remarks: this field is required",
        "extra: not a data field of this step",
    ]


def test_values_must_be_an_object():
    with pytest.raises(ValidationError) as caught:
        clean_actual_values(FIELDS, [10])
    assert "actual_values" in caught.value.message_dict


@pytest.mark.parametrize(
    ("value", "within"),
    [("9", True), ("9.0", True), ("11", True), ("10", True), ("8.999", False), ("11.001", False)],
)
def test_limits_are_inclusive(value, within):
    excursions = evaluate_specifications({"blend_time": {"min": 9, "max": 11}}, {"blend_time": value})
    assert (not excursions) is within


def test_one_sided_and_float_limits():
    spec = {"ph": {"min": 6.5}, "moisture": {"max": 2.5}}
    assert evaluate_specifications(spec, {"ph": "6.5", "moisture": "2.5"}) == []
    excursions = evaluate_specifications(spec, {"ph": "6.4", "moisture": "2.6"})
    assert [excursion.describe() for excursion in excursions] == [
        "moisture = 2.6 is outside its specification (max 2.5)",
        "ph = 6.4 is outside its specification (min 6.5)",
    ]


def test_a_limited_field_without_a_numeric_value_is_an_excursion():
    assert len(evaluate_specifications({"ph": {"min": 6}}, {})) == 1


def test_no_specification_means_within_spec():
    assert evaluate_specifications({}, {"blend_time": "100"}) == []


def test_to_decimal_never_goes_through_float_rounding():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(True) is None
