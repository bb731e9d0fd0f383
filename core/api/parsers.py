"""Request bodies read within bounds (core.limits), before any view or serializer sees them.

PostgreSQL refuses NUL characters and lone surrogates (a 500 if they reach it), a JSON
number is written out in full when stored as a decimal, and Python's JSON reader recurses
once per level of nesting. A body breaking a limit is refused as a 400 that names the
field (`actual_values.weight`), and nothing is stored.
"""

import codecs
import json

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils.json import strict_constant

from core.limits import MAX_JSON_DEPTH, NUMBER_PROBLEM, number_literal_within_limits, string_problem

BODY = "body"


def safe_name(name):
    """A field name as it can be echoed back in an error (the name itself may be hostile)."""
    name = str(name)[:100].replace("\x00", "\\u0000")
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _join(path, key):
    key = safe_name(key)
    return f"{path}.{key}" if path else key


class PayloadTooLarge(ValidationError):
    """A field (or the body) refused for its size alone: 413."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class _NumberLiteral(str):
    """A JSON number as written, converted only after its size is checked."""

    is_integer = False


class _IntegerLiteral(_NumberLiteral):
    is_integer = True


def _refuse(path, message):
    raise ValidationError({path or BODY: [message]})


def _checked(value, path, depth):
    """`value` with its number literals converted, after checking every limit."""
    if depth > MAX_JSON_DEPTH:
        _refuse(path, f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, _NumberLiteral):
        if not number_literal_within_limits(value):
            _refuse(path, NUMBER_PROBLEM)
        return int(value) if value.is_integer else float(value)
    if isinstance(value, str):
        problem = string_problem(value)
        if problem:
            _refuse(path, problem)
        return value
    if isinstance(value, dict):
        checked = {}
        for key, item in value.items():
            problem = string_problem(key)
            if problem:
                _refuse(_join(path, key), f"field name {problem}")
            checked[key] = _checked(item, _join(path, key), depth + 1)
        return checked
    if isinstance(value, list):
        return [_checked(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    return value


def _too_deep_field(text):
    """The top-level field whose value nests too deep for the JSON reader to recurse into
    (a cheap scan of the text, used only after the reader gave up)."""
    depth, in_string, escaped, key_start, last_key = 0, False, False, None, ""
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if key_start is not None:
                    last_key, key_start = text[key_start:index], None
        elif char == '"':
            in_string = True
            key_start = index + 1 if depth == 1 else None
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return last_key
        elif char in "]}":
            depth -= 1
    return ""


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from exc
        try:
            data = json.loads(
                text,
                parse_constant=strict_constant if self.strict else None,
                parse_int=_IntegerLiteral,
                parse_float=_NumberLiteral,
            )
        except RecursionError:
            _refuse(safe_name(_too_deep_field(text)), f"is nested deeper than {MAX_JSON_DEPTH} levels")
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        return _checked(data, "", 0)


def _check_form(data):
    for key, values in data.lists():
        problem = string_problem(key)
        if problem:
            _refuse(safe_name(key), f"field name {problem}")
        for value in values:
            problem = isinstance(value, str) and string_problem(value)
            if problem:
                _refuse(safe_name(key), problem)


class BoundedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class BoundedMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # Refused before the upload is read to disk: larger than any accepted file plus
        # the form fields around it.
        request = (parser_context or {}).get("request")
        limit = settings.EBR_UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        if length > limit:
            raise PayloadTooLarge({BODY: [f"The request body is {length} bytes; at most {limit} bytes are accepted."]})
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        for key, upload in result.files.items():
            problem = string_problem(upload.name or "")
            if problem:
                _refuse(safe_name(key), f"file name {problem}")
        return result
