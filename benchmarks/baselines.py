"""Baselines for S1 and S2: the same rows as the API, read and serialized with as little
machinery as possible, in plain Django views (no DRF, no authentication, no scoping).

- raw: one psycopg query per table, rows turned into dicts and dumped with `json`;
- values: `JsonResponse(list(queryset.values()))`.

The API's own answer does more (authentication, site scoping, permissions, nested
serializers, signature validity, allowed actions); the ratio says what that costs.
"""

import json
from datetime import date, datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q
from django.http import HttpResponse, JsonResponse

from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep
from core.models import Signature

PAGE_SIZE = 50
ORDER = ("-created_at", "-id")


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_response(data):
    return HttpResponse(json.dumps(data, default=_json_default), content_type="application/json")


def _page(request):
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _fetch(cursor, sql, params=()):
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _raw_cursor():
    connection.ensure_connection()
    return connection.connection.cursor()


LIST_SQL = """
    SELECT b.*, m.mbr_id AS mbr_code, m.version AS mbr_version, m.product_code, m.product_name,
           s.code AS site_code
    FROM batch_records_batchrecord b
    JOIN batch_records_masterbatchrecord m ON m.id = b.mbr_id
    JOIN users_site s ON s.id = b.site_id
    ORDER BY b.created_at DESC, b.id DESC
    LIMIT %s OFFSET %s
"""


def raw_batch_list(request):
    offset = (_page(request) - 1) * PAGE_SIZE
    with _raw_cursor() as cursor:
        cursor.execute("SELECT count(*) FROM batch_records_batchrecord")
        count = cursor.fetchone()[0]
        rows = _fetch(cursor, LIST_SQL, (PAGE_SIZE, offset))
    return _json_response({"count": count, "results": rows})


def values_batch_list(request):
    offset = (_page(request) - 1) * PAGE_SIZE
    queryset = BatchRecord.objects.order_by(*ORDER)[offset : offset + PAGE_SIZE]
    return JsonResponse(list(queryset.values()), safe=False)


CHILD_TABLES = (
    ("steps", "batch_records_batchstep", "step_number, id", BatchStep),
    ("materials", "batch_records_batchmaterial", "line_number, id", BatchMaterial),
    ("equipment", "batch_records_batchequipment", "id", BatchEquipment),
    ("deviations", "batch_records_batchdeviation", "created_at, id", BatchDeviation),
)


def raw_batch_detail(request, pk):
    types = ContentType.objects.get_for_models(BatchRecord, *(model for *_, model in CHILD_TABLES))
    with _raw_cursor() as cursor:
        rows = _fetch(cursor, "SELECT * FROM batch_records_batchrecord WHERE id = %s", (pk,))
        if not rows:
            return JsonResponse({"detail": "Not found."}, status=404)
        document = rows[0]
        conditions = ["(content_type_id = %s AND object_id = %s)"]
        params = [types[BatchRecord].pk, pk]
        for name, table, order, model in CHILD_TABLES:
            document[name] = _fetch(cursor, f"SELECT * FROM {table} WHERE batch_id = %s ORDER BY {order}", (pk,))
            conditions.append(f"(content_type_id = %s AND object_id IN (SELECT id FROM {table} WHERE batch_id = %s))")
            params.extend([types[model].pk, pk])
        document["signatures"] = _fetch(
            cursor, f"SELECT * FROM core_signature WHERE {' OR '.join(conditions)} ORDER BY signed_at, id", params
        )
    return _json_response(document)


def values_batch_detail(request, pk):
    document = BatchRecord.objects.filter(pk=pk).values().first()
    if document is None:
        return JsonResponse({"detail": "Not found."}, status=404)
    types = ContentType.objects.get_for_models(BatchRecord, *(model for *_, model in CHILD_TABLES))
    condition = Q(content_type=types[BatchRecord], object_id=pk)
    for name, _, order, model in CHILD_TABLES:
        children = model.objects.filter(batch_id=pk).order_by(*(part.strip() for part in order.split(",")))
        document[name] = list(children.values())
        condition |= Q(content_type=types[model], object_id__in=children.values("pk"))
    document["signatures"] = list(Signature.objects.filter(condition).order_by("signed_at", "id").values())
    return JsonResponse(document)
