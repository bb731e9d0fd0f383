"""Bounds on what a client may send, declared once: the request parsers and the value
checks of recorded step data read them.

No quantity, measurement or limit of a batch record needs more than 30 significant digits
or a magnitude beyond 10^±30; a number outside that is refused, never stored (a decimal of
`1e100000000` written out in full is a 100 MB string).
"""

from decimal import Decimal, InvalidOperation

MAX_NUMBER_DIGITS = 30
MAX_NUMBER_EXPONENT = 30
# Longer than any comment, reason or description a person types (a page is ~3,000).
MAX_STRING_LENGTH = 100_000
# The deepest structure the API takes (MBR specifications: body → field → limits) is 4.
MAX_JSON_DEPTH = 32

NUMBER_PROBLEM = (
    f"must be a finite number of at most {MAX_NUMBER_DIGITS} significant digits "
    f"and a magnitude within 10^±{MAX_NUMBER_EXPONENT}"
)


def decimal_within_limits(number):
    """Is this Decimal finite and small enough to write out and store?"""
    if not number.is_finite():
        return False
    # adjusted() also bounds a zero: 0E-100000000 written out is as long as any other.
    return len(number.as_tuple().digits) <= MAX_NUMBER_DIGITS and abs(number.adjusted()) <= MAX_NUMBER_EXPONENT


def number_literal_within_limits(literal):
    """Is this JSON number literal within the limits? (Checked on the text, before any
    conversion could expand it.)"""
    if len(literal) > 2 * (MAX_NUMBER_DIGITS + MAX_NUMBER_EXPONENT):
        return False
    try:
        number = Decimal(literal)
    except InvalidOperation:
        return False
    return decimal_within_limits(number)


def string_problem(value):
    """Why a text cannot be stored (NUL, lone surrogate, too long), or None."""
    if len(value) > MAX_STRING_LENGTH:
        return f"must be at most {MAX_STRING_LENGTH} characters long"
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogate characters (\\ud800-\\udfff)"
    return None
