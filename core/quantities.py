"""Quantities as the API takes them: a JSON number or numeric string read as a finite
Decimal (never through a float), and the one set of checks every quantity, price and
recorded value goes through (sign, limit, decimal places), with one wording."""

import math
from decimal import Decimal, InvalidOperation

from .limits import decimal_within_limits

# Longer than any number within the limits can be written (with spaces around it).
MAX_NUMBER_TEXT = 200
POSITIVE, NON_NEGATIVE, NON_ZERO = "positive", "non-negative", "non-zero"


def to_decimal(value):
    """A JSON number or numeric string as a finite Decimal within core.limits; None for
    anything else (booleans are not numbers, even though Python says True == 1; "1e100000000"
    is a number no quantity needs, 100 MB once written out)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if decimal_within_limits(number) else None


def decimal_problem(value, *, places, limit, sign=POSITIVE):
    """(Decimal, None) when `value` is a decimal number of the `sign` asked, below `limit` in
    magnitude and with at most `places` decimal places; else (None, what is wrong)."""
    number = value if isinstance(value, Decimal) else to_decimal(value)
    if number is None or not number.is_finite():
        return None, "must be a decimal number"
    if sign == POSITIVE and number <= 0:
        return None, "must be greater than 0"
    if sign == NON_NEGATIVE and number < 0:
        return None, "must not be negative"
    if sign == NON_ZERO and number == 0:
        return None, "must not be 0"
    if abs(number) >= limit:
        return None, f"must be between -{limit} and {limit}" if sign == NON_ZERO else f"must be less than {limit}"
    if number != number.quantize(Decimal(1).scaleb(-places)):
        return None, f"must have at most {places} decimal places"
    return number, None
