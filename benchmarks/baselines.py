"""Raw baselines for S1 and S2: the physical limit of the API's own answer.

A baseline reads exactly the rows and columns the API returns, with plain psycopg, and
serializes the same JSON shape with `json.dumps`. The SQL is compiled once, at start-up,
from the API serializers' own values() plans (core.api.values): the same columns, the
same joins (product code, usernames), the same child tables in the same order, the same
signature columns — so the baseline can neither read more than the API (which would flatter
the API) nor less. Per request it only executes those statements and builds dicts.

What the baseline leaves out, all of it in its favour (so a ratio against it is the
conservative reading): no authentication, permissions or site scoping; `valid` of a
signature is not recomputed (the API hashes the signed content); `allowed_actions` is an
empty list. `benchmarks/run.py` checks before measuring that the baseline's JSON has the
same keys, the same rows and the same column values as the API's.
"""

import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import JSONField
from django.http import HttpResponse, JsonResponse

from batch_records.api.serializers_batches import BatchRecordListSerializer, BatchRecordSerializer
from batch_records.models import BatchRecord
from core.api.values import (
    AllowedActionsColumn,
    NestedColumn,
    ReverseSlugsColumn,
    SignaturesColumn,
    ValuesRows,
    _signature_columns,
)
from core.models import Signature

PAGE_SIZE = 50
SENTINEL = -987654321  # `__in=[SENTINEL]`: becomes `= ANY(%s)`, bound to the request's ids
CONTENT_TYPE = -987654320  # replaced by the record type's content type


def _json_default(value):
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_response(data):
    return HttpResponse(json.dumps(data, default=_json_default), content_type="application/json")


def _cursor():
    connection.ensure_connection()
    return connection.connection.cursor()


def _sql(queryset, lookups):
    """(SQL, params) of `queryset.values(*lookups)` as Django compiles it, with its
    `IN (SENTINEL)` turned into `= ANY(%s)` so that one statement serves any set of ids."""
    sql, params = queryset.values(*lookups).query.sql_with_params()
    parts = sql.split("%s")
    assert len(parts) == len(params) + 1, sql
    text = parts[0]
    for param, following in zip(params, parts[1:], strict=True):
        if param == SENTINEL:
            assert text.endswith(" IN ("), sql
            assert following.startswith(")"), sql
            text = text[: -len(" IN (")] + " = ANY(%s)" + following[1:]
        else:
            text += "%s" + following
    return text, tuple(params)


def _bind(params, ids):
    return [list(ids) if param == SENTINEL else param for param in params]


class RawRows:
    """One plan's rows, read with raw SQL compiled from the plan (recursively for children)."""

    def __init__(self, plan, queryset, *, parent_attname=None):
        self.plan = plan
        self.model = plan.model
        self.parent_attname = parent_attname
        lookups = [lookup for _, lookup, _, column in plan.columns if column is None]
        self.children = []
        self.signed = False
        for name, _, _, column in plan.columns:
            if column is None:
                continue
            if isinstance(column, (NestedColumn, ReverseSlugsColumn)):
                # In the related model's default ordering, as the API reads them.
                related = column.related_model._default_manager.filter(**{f"{column.parent_attname}__in": [SENTINEL]})
                related = related if related.ordered else related.order_by("pk")
                if isinstance(column, NestedColumn):
                    child = RawRows(column.plan, related, parent_attname=column.parent_attname)
                else:
                    child = ("slugs", _sql(related, [column.parent_attname, column.slug_field]))
                self.children.append((name, child))
            elif isinstance(column, SignaturesColumn):
                self.signed = True
            elif not isinstance(column, AllowedActionsColumn):
                raise TypeError(f"No raw reading for {name} ({type(column).__name__})")
        self.select = ["pk", *([parent_attname] if parent_attname else []), *lookups]
        self.sql = _sql(queryset, self.select)
        self.signature_names = [name for name, _, _ in _signature_columns()]
        signature_lookups = [lookup for _, lookup, _ in _signature_columns()]
        self.signature_sql = _sql(
            Signature.objects.filter(content_type_id=CONTENT_TYPE, object_id__in=[SENTINEL]).order_by(
                "signed_at", "id"
            ),
            ["object_id", *signature_lookups],
        )
        self.names = [name for name, _, _, _ in plan.columns]
        # JSON columns come from the driver as text (Django parses them itself): parsed here.
        self.json_columns = {
            name for name, lookup, _, column in plan.columns if column is None and _is_json(self.model, lookup)
        }

    def read(self, cursor, ids):
        """[(parent id or None, row dict)] for the records (or the parents' children) `ids`."""
        sql, params = self.sql
        cursor.execute(sql, _bind(params, ids))
        return self.shape(cursor, cursor.fetchall())

    def shape(self, cursor, fetched):
        width = len(self.select)
        extra = 2 if self.parent_attname else 1
        pks = [row[0] for row in fetched]
        nested = {name: self._children(cursor, child, pks) for name, child in self.children}
        signatures = self._signatures(cursor, pks) if self.signed else {}
        out = []
        for row in fetched:
            assert len(row) == width
            plain = iter(row[extra:])
            item = {}
            for name, _, _, column in self.plan.columns:
                if column is None:
                    value = next(plain)
                    item[name] = json.loads(value) if name in self.json_columns and isinstance(value, str) else value
                elif isinstance(column, SignaturesColumn):
                    item[name] = signatures.get(row[0], [])
                elif isinstance(column, AllowedActionsColumn):
                    item[name] = []
                else:
                    item[name] = nested[name].get(row[0], [])
            out.append((row[1] if self.parent_attname else None, item))
        return out

    def _children(self, cursor, child, pks):
        by_parent = defaultdict(list)
        if isinstance(child, tuple):
            sql, params = child[1]
            cursor.execute(sql, _bind(params, pks))
            for parent, slug in cursor.fetchall():
                by_parent[parent].append(slug)
            return by_parent
        for parent, item in child.read(cursor, pks):
            by_parent[parent].append(item)
        return by_parent

    def _signatures(self, cursor, pks):
        sql, params = self.signature_sql
        content_type = ContentType.objects.get_for_model(self.model).pk
        params = [content_type if param == CONTENT_TYPE else param for param in _bind(params, pks)]
        cursor.execute(sql, params)
        by_record = defaultdict(list)
        for object_id, *columns in cursor.fetchall():
            item = dict(zip(self.signature_names, columns, strict=True))
            item["valid"] = True  # not recomputed (see the module's docstring)
            by_record[object_id].append(item)
        return by_record


def _is_json(model, lookup):
    if "__" in lookup:
        return False
    try:
        return isinstance(model._meta.get_field(lookup), JSONField)
    except FieldDoesNotExist:
        return False


class _Compiled:
    list = None
    detail = None
    count_sql = None


def _compiled():
    if _Compiled.list is None:
        list_plan = ValuesRows.for_serializer(BatchRecordListSerializer)
        ordering = BatchRecord._meta.ordering
        _Compiled.list = RawRows(list_plan, BatchRecord.objects.order_by(*ordering))
        _Compiled.detail = RawRows(
            ValuesRows.for_serializer(BatchRecordSerializer), BatchRecord.objects.filter(pk__in=[SENTINEL]).order_by()
        )
        cap = settings.EBR_LIST_COUNT_CAP
        _Compiled.count_sql = f"SELECT count(*) FROM (SELECT 1 FROM {BatchRecord._meta.db_table} LIMIT {cap + 1}) t"
    return _Compiled


def _page(request):
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def raw_batch_list(request):
    """The API's list page: the same columns of the same 50 rows, the same capped count."""
    compiled = _compiled()
    page = _page(request)
    offset = (page - 1) * PAGE_SIZE
    cap = settings.EBR_LIST_COUNT_CAP
    with _cursor() as cursor:
        sql, params = compiled.list.sql
        cursor.execute(f"{sql} LIMIT %s OFFSET %s", [*params, PAGE_SIZE + 1, offset])
        fetched = cursor.fetchall()
        more = len(fetched) > PAGE_SIZE
        rows = [item for _, item in compiled.list.shape(cursor, fetched[:PAGE_SIZE])]
        cursor.execute(compiled.count_sql)
        count = cursor.fetchone()[0]
    base = request.build_absolute_uri(request.path)
    return _json_response(
        {
            "count": min(count, cap),
            "count_exact": count <= cap,
            "next": f"{base}?page={page + 1}" if more else None,
            "previous": (f"{base}?page={page - 1}" if page > 2 else base) if page > 1 else None,
            "results": rows,
        }
    )


def raw_batch_detail(request, pk):
    """The API's batch detail: the same columns of the batch and of its children."""
    compiled = _compiled()
    with _cursor() as cursor:
        rows = compiled.detail.read(cursor, [pk])
    if not rows:
        return JsonResponse({"detail": "No BatchRecord matches the given query."}, status=404)
    return _json_response(rows[0][1])
