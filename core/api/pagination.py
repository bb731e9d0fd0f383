"""List pagination whose cost does not grow with the table.

Two ways through a list, on every list route:

- `?page=N` (the default, as before): pages by offset. The total `count` is exact up to
  COUNT_CAP rows and then stops counting: `count` is COUNT_CAP and `count_exact` is false.
  A full `count(*)` of a large table costs more than the page itself, and it grows with
  the data; a capped count reads at most COUNT_CAP + 1 index entries. `next` is found by
  reading one row past the page, so it is right even when the count is capped.
- `?cursor=` (empty to start): keyset pagination. Each page is found from the last row's
  ordering values through the index, so page 1,000 costs what page 1 does, and no count
  is made at all. Follow `next`/`previous`; they carry the cursor.
"""

import contextlib
import datetime
import json
import operator
from base64 import urlsafe_b64decode, urlsafe_b64encode
from functools import reduce

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from rest_framework import exceptions
from rest_framework.pagination import BasePagination, PageNumberPagination, _positive_int
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from .values import ValuesRows

COUNT_CAP = settings.EBR_LIST_COUNT_CAP


class StandardPagination(PageNumberPagination):
    """Page numbers with a capped count; `?cursor=` switches to keyset pagination."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
    count_cap = COUNT_CAP

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = None
        if KeysetPagination.cursor_query_param in request.query_params:
            self.keyset = KeysetPagination()
            return self.keyset.paginate_queryset(queryset, request, view)
        self.request = request
        self.page_size = self.get_page_size(request)
        try:
            self.number = _positive_int(request.query_params.get(self.page_query_param, 1), strict=True)
        except ValueError:
            raise exceptions.NotFound(self.invalid_page_message.format(page_number="")) from None
        offset = (self.number - 1) * self.page_size
        rows = list(queryset[offset : offset + self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        page = rows[: self.page_size]
        if not page and self.number > 1:
            raise exceptions.NotFound(self.invalid_page_message.format(page_number=self.number))
        # Counted even when the list fits on this page: a request costs the same number of
        # queries however many rows there are.
        self.count = _count_of(queryset, self.count_cap + 1)
        self.count_exact = self.count <= self.count_cap
        self.count = min(self.count, self.count_cap)
        return page

    def get_next_link(self):
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self):
        if self.number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data):
        if self.keyset is not None:
            return self.keyset.get_paginated_response(data)
        return Response(
            {
                "count": self.count,
                "count_exact": self.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"]["description"] = (
            f"Rows matching, counted up to {self.count_cap}; with ?cursor= there is no count."
        )
        response["properties"]["count_exact"] = {
            "type": "boolean",
            "description": f"false when more than {self.count_cap} rows match (count stops there).",
        }
        response["required"] = ["next", "results"]
        return response

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), *KeysetPagination().cursor_parameters()]


def _count_of(queryset, limit):
    """How many rows `queryset` has, counting no further than `limit`."""
    if isinstance(queryset, ValuesRows.Page):
        queryset = queryset.queryset
    if isinstance(queryset, models.QuerySet):
        return queryset.order_by()[:limit].count()
    return min(len(queryset), limit)


class KeysetPagination(BasePagination):
    """Keyset pagination over the list's ordering (`?ordering=`, the view's, the model's).

    The ordering is made total by ending it with the primary key; a page is the rows after
    (or, going back, before) the last row seen, found through `(a > x) OR (a = x AND b > y)…`
    on the ordering's columns, so it costs the same on page 1 and on page 1,000 and never
    skips or repeats a row when rows are added meanwhile. The cursor carries the ordering
    and the row's values; a cursor that does not decode, or was made for another ordering,
    is a 404 as an unknown page is.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
    invalid_cursor_message = "Invalid cursor: follow the `next` or `previous` link, or send an empty ?cursor= to start."

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = StandardPagination().get_page_size(request)
        model = _model_of(queryset)
        self.ordering = self.get_ordering(request, queryset, view, model)
        fields = [_positional_field(model, name.lstrip("-")) for name in self.ordering]
        position, backwards = self.decode_cursor(request, fields)
        if isinstance(queryset, ValuesRows.Page):
            # Rows read as values carry the plan's lookups, and the ordering's columns to
            # place the cursor.
            names = [name.lstrip("-") for name in self.ordering]
            queryset = queryset.queryset.values(*dict.fromkeys([*queryset.lookups, *names]))
        ordering = _reversed(self.ordering) if backwards else self.ordering
        queryset = queryset.order_by(*ordering)
        if position is not None:
            queryset = queryset.filter(_after(ordering, position))
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        page = rows[: self.page_size]
        if backwards:
            page.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_previous, self.has_next = position is not None, more
        self.first = self._position_of(page[0], fields) if page else None
        self.last = self._position_of(page[-1], fields) if page else None
        return page

    def get_ordering(self, request, queryset, view, model):
        ordering = None
        for backend in getattr(view, "filter_backends", []):
            if hasattr(backend, "get_ordering"):
                ordering = backend().get_ordering(request, _queryset_of(queryset), view)
                break
        # As the list is ordered without a cursor: ?ordering=, the view's own, the model's.
        ordering = list(ordering or _queryset_of(queryset).query.order_by or model._meta.ordering or ["-pk"])
        for name in ordering:
            if _positional_field(model, name.lstrip("-")) is None:
                raise exceptions.ValidationError(
                    {
                        "ordering": [
                            f"With ?cursor=, a list is ordered by its own non-empty columns; "
                            f"'{name.lstrip('-')}' is not one. Use ?page= for this ordering."
                        ]
                    }
                )
        if not any(_positional_field(model, name.lstrip("-")).primary_key for name in ordering):
            ordering.append(("-" if ordering[-1].startswith("-") else "") + "pk")
        return tuple(ordering)

    def decode_cursor(self, request, fields):
        """(position values or None, backwards) from `?cursor=`; 404 when it does not decode."""
        encoded = request.query_params.get(self.cursor_query_param, "")
        if not encoded:
            return None, False
        try:
            token = json.loads(urlsafe_b64decode(encoded.encode("ascii") + b"=" * (-len(encoded) % 4)))
            if token["o"] != list(self.ordering) or len(token["v"]) != len(fields) or token["d"] not in "np":
                raise ValueError("another ordering")
            values = [field.to_python(value) for field, value in zip(fields, token["v"], strict=True)]
        except (ValueError, TypeError, KeyError, UnicodeError, ValidationError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return values, token["d"] == "p"

    def encode_cursor(self, values, direction):
        token = json.dumps({"o": list(self.ordering), "v": values, "d": direction}, default=_exact_text)
        encoded = urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, encoded)

    def _position_of(self, row, fields):
        if isinstance(row, dict):
            return [row[name.lstrip("-")] for name in self.ordering]
        return [getattr(row, field.attname) for field in fields]

    def get_next_link(self):
        return self.encode_cursor(self.last, "n") if self.has_next and self.last is not None else None

    def get_previous_link(self):
        return self.encode_cursor(self.first, "p") if self.has_previous and self.first is not None else None

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def cursor_parameters(self):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset pagination: send it empty to start, then follow `next`. No count is made.",
                "schema": {"type": "string"},
            }
        ]


def _exact_text(value):
    """A cursor value as text its field reads back exactly (DjangoJSONEncoder would cut a
    timestamp to milliseconds, and the page would skip or repeat rows)."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)  # Decimal, UUID


def _reversed(ordering):
    return tuple(name[1:] if name.startswith("-") else "-" + name for name in ordering)


def _after(ordering, values):
    """Rows after `values` in `ordering`: (a > x) OR (a = x AND b > y) OR …"""
    alternatives = []
    equal = Q()
    for name, value in zip(ordering, values, strict=True):
        column = name.lstrip("-")
        beyond = Q(**{f"{column}__lt" if name.startswith("-") else f"{column}__gt": value})
        alternatives.append(equal & beyond)
        equal &= Q(**{column: value})
    return reduce(operator.or_, alternatives)


def _queryset_of(queryset):
    return queryset.queryset if isinstance(queryset, ValuesRows.Page) else queryset


def _model_of(queryset):
    return _queryset_of(queryset).model


def _positional_field(model, name):
    """The model's own non-null column `name` (a cursor can be placed on it), or None."""
    with contextlib.suppress(FieldDoesNotExist):
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        if field.concrete and not field.null and not field.many_to_many:
            return field
    return None
