"""Representations read with `queryset.values()` instead of model instances.

A list page of 50 batches, or one batch with 200 steps and their signatures, built through
ModelSerializer makes a model instance per row and per joined relation, a queryset per
prefetched relation of every row, and walks every field's attribute lookup: that, not the
database, is most of the cost of the request. When every field a serializer shows is
something a plan below knows how to read, the same output is produced from a few
`.values()` queries instead:

- a column, or a column reached through forward foreign keys (`mbr.product_code`, a
  user's `username`), formatted by the serializer field's own `to_representation` (or
  passed through where that is the identity), so decimals, UTC timestamps and choices are
  identical;
- `signatures` (SignaturesField): one query per record type, `valid` computed from the
  row's signed columns with the model's own hash;
- `allowed_actions` (AllowedActionsField): from the row's status and the user's permissions;
- nested serializers over a reverse foreign key (`steps`, `materials`…) and slug lists over
  one (`deviations` of a step): one query per relation for all rows, in the related
  model's default ordering, as the prefetch it replaces.

The serializer class stays the one source of truth and of the OpenAPI schema; tests check
that both paths give the same JSON. A serializer with anything else (method fields,
`source="*"` fields of other kinds, properties, many-to-many, a custom `to_representation`)
has no plan: `ValuesRows.for_serializer` returns None and the view serializes instances.
"""

from collections import defaultdict
from functools import cache

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.utils import timezone
from rest_framework import ISO_8601, relations, serializers
from rest_framework.settings import api_settings

from core.chain import signature_hash_matches
from core.models import Signature

from .serializers import AllowedActionsField, SignatureSerializer, SignaturesField, workflow_facts


class ValuesRows:
    """A plan mapping each output field of a serializer to what `.values()` reads for it."""

    def __init__(self, model, columns):
        self.model = model
        # [(output name, lookup, representation or None, Column or None)]: plain columns
        # carry a lookup, the others a Column that reads its own data.
        self.columns = columns
        lookups = [lookup for _, lookup, _, column in columns if column is None]
        for *_, column in columns:
            if column is not None:
                lookups.extend(column.lookups)
        self.lookups = tuple(dict.fromkeys(lookups))

    @classmethod
    @cache
    def for_serializer(cls, serializer_class):
        """The plan for `serializer_class`, or None when some field is beyond a plan."""
        if serializer_class.to_representation is not serializers.Serializer.to_representation:
            return None
        model = serializer_class.Meta.model
        columns = []
        for name, field in serializer_class().fields.items():
            if field.write_only:
                continue
            column = _column(model, field)
            if column is None:
                return None
            columns.append((name, *column))
        return cls(model, columns)

    def only(self, names):
        """This plan narrowed to the output fields `names` (nothing else is read)."""
        return ValuesRows(self.model, [column for column in self.columns if column[0] in names])

    def rows(self, values, context=None):
        """Serialized rows from an iterable of `.values(*self.lookups)` dicts."""
        values = list(values)
        context = context or {}
        tz = context.setdefault("timezone", timezone.get_current_timezone())
        # Per call, never on the (shared, cached) plan: threads may serve requests at once.
        read = {id(column): column.prepare(values, context) for *_, column in self.columns if column is not None}
        out = []
        for value in values:
            row = {}
            for name, lookup, represent, column in self.columns:
                if column is not None:
                    row[name] = column.value(value, read[id(column)])
                    continue
                row[name] = _shown(value[lookup], represent, tz)
            out.append(row)
        return out

    class Page:
        """What the paginator reads: the count of the queryset itself (without the joins of
        the value columns), and slices as `.values()` rows."""

        def __init__(self, queryset, lookups):
            self.queryset = queryset
            self.lookups = lookups
            self.ordered = queryset.ordered

        def count(self):
            return self.queryset.count()

        def __len__(self):
            return self.count()

        def __getitem__(self, index):
            return self.queryset.values(*self.lookups)[index]


# --- columns that read more than their row ----------------------------------------------


class Column:
    """An output field computed from its row plus data read once for all rows."""

    lookups = ()

    def prepare(self, rows, context):
        """What the rows need, read for all of them at once; passed back to `value`."""
        return context

    def value(self, row, prepared):
        raise NotImplementedError


class SignaturesColumn(Column):
    """SignaturesField: the record's signatures, each `valid` if it matches the content."""

    def __init__(self, model):
        self.model = model
        self.signed = [(name, model._meta.get_field(name).attname) for name in model.signed_fields]
        self.lookups = ("pk", *(attname for _, attname in self.signed))
        self.fields = _signature_columns()

    def prepare(self, rows, context):
        content_type = ContentType.objects.get_for_model(self.model)
        signatures = Signature.objects.filter(content_type=content_type, object_id__in=[row["pk"] for row in rows])
        tz = context["timezone"]
        by_record = defaultdict(list)
        columns = ("object_id", "hash_key_id", "chain_hash", *(lookup for _, lookup, _ in self.fields))
        for signature in signatures.values(*columns):
            item = {}
            for name, lookup, represent in self.fields:
                item[name] = _shown(signature[lookup], represent, tz)
            stored = (signature["content_hash"], signature["hash_key_id"], bool(signature["chain_hash"]))
            by_record[signature["object_id"]].append((*stored, item))
        return by_record

    def value(self, row, by_record):
        signatures = by_record.get(row["pk"])
        if not signatures:
            return []
        current = self.model.hash_content(row["pk"], {name: row[attname] for name, attname in self.signed})
        return [
            {**item, "valid": signature_hash_matches(stored, key_id, current, chained=chained)}
            for stored, key_id, chained, item in signatures
        ]


@cache
def _signature_columns():
    columns = []
    for name, field in SignatureSerializer().fields.items():
        if name == "valid":
            continue  # computed against the record's current content
        column = _column(Signature, field)
        if column is None or column[2] is not None or (name == "content_hash" and column[0] != name):
            raise ImproperlyConfigured(f"SignatureSerializer.{name} must show a Signature column as it is.")
        columns.append((name, column[0], column[1]))
    return tuple(columns)


class AllowedActionsColumn(Column):
    """AllowedActionsField: what the user may do now. Without guards, the answer depends on
    the status alone (one per status); with guards, the records that pass state and
    permission are read as instances (one query) and judged by the guards themselves."""

    def __init__(self, model, workflow):
        self.model = model
        self.workflow = workflow
        self.lookups = ("pk", workflow.field)

    def prepare(self, rows, context):
        request = context.get("request")
        user = getattr(request, "user", None)
        statuses = {row[self.workflow.field] for row in rows}
        # Rows in the same state offer the same actions, by state and permission.
        by_status = {status: self.workflow.actions_for_status(status, user) if user else [] for status in statuses}
        if not self.workflow.has_guards:
            return by_status, None
        candidates = [row["pk"] for row in rows if by_status[row[self.workflow.field]]]
        records = self.model._default_manager.filter(pk__in=candidates)
        if self.workflow.read_related:
            records = records.select_related(*self.workflow.read_related)
        facts = workflow_facts(context)
        return by_status, {record.pk: self.workflow.allowed_actions(record, user, facts) for record in records}

    def value(self, row, prepared):
        by_status, by_record = prepared
        if by_record is None:
            return list(by_status[row[self.workflow.field]])
        return list(by_record.get(row["pk"], []))


class ReverseColumn(Column):
    """Rows of a reverse foreign key (`batch.steps`), grouped by their parent."""

    def __init__(self, relation):
        self.related_model = relation.related_model
        self.parent_attname = relation.field.attname
        self.lookups = ("pk",)

    def related(self, rows, *lookups):
        queryset = self.related_model._default_manager.filter(
            **{f"{self.parent_attname}__in": [row["pk"] for row in rows]}
        )
        if not queryset.ordered:
            queryset = queryset.order_by("pk")
        return queryset.values(self.parent_attname, *lookups)

    def value(self, row, by_parent):
        return by_parent.get(row["pk"], [])


class NestedColumn(ReverseColumn):
    """A nested serializer (`many=True`) over a reverse foreign key."""

    def __init__(self, relation, plan):
        super().__init__(relation)
        self.plan = plan

    def prepare(self, rows, context):
        related = list(self.related(rows, *self.plan.lookups))
        by_parent = defaultdict(list)
        for raw, serialized in zip(related, self.plan.rows(related, context), strict=True):
            by_parent[raw[self.parent_attname]].append(serialized)
        return by_parent


class ReverseSlugsColumn(ReverseColumn):
    """A many SlugRelatedField over a reverse foreign key (`step.deviations`)."""

    def __init__(self, relation, slug_field):
        super().__init__(relation)
        self.slug_field = slug_field

    def prepare(self, rows, context):
        by_parent = defaultdict(list)
        for related in self.related(rows, self.slug_field):
            by_parent[related[self.parent_attname]].append(related[self.slug_field])
        return by_parent


# --- field → column ---------------------------------------------------------------------


def _column(model, field):
    """(lookup, representation, Column) for one serializer field, or None."""
    if isinstance(field, SignaturesField):
        return (None, None, SignaturesColumn(model)) if hasattr(model, "hash_content") else None
    if isinstance(field, AllowedActionsField):
        return None, None, AllowedActionsColumn(model, field.workflow)
    if isinstance(field, serializers.ListSerializer):
        relation = _reverse_relation(model, field.source)
        plan = ValuesRows.for_serializer(type(field.child)) if relation is not None else None
        if plan is None or plan.model is not relation.related_model:
            return None
        return None, None, NestedColumn(relation, plan)
    if isinstance(field, relations.ManyRelatedField):
        relation = _reverse_relation(model, field.source)
        if relation is None or not isinstance(field.child_relation, relations.SlugRelatedField):
            return None
        return None, None, ReverseSlugsColumn(relation, field.child_relation.slug_field)
    if isinstance(field, (serializers.BaseSerializer, serializers.SerializerMethodField)):
        return None
    if field.source == "*" or not field.source_attrs:
        return None
    path = _model_path(model, field.source_attrs)
    if path is None:
        return None
    target = path[-1]
    lookup = "__".join(field.source_attrs)
    if isinstance(field, relations.RelatedField):
        if not target.many_to_one and not target.one_to_one:
            return None
        if isinstance(field, relations.SlugRelatedField):
            return f"{lookup}__{field.slug_field}", None, None
        if isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None:
            return lookup, None, None
        return None
    if target.is_relation:
        return None
    if type(field) in _IDENTITY and target.get_internal_type() in _IDENTITY[type(field)]:
        return lookup, None, None
    if _is_plain_iso_datetime(field):
        return lookup, _iso_datetime, None
    # The serializer field's own formatting, bound once (decimals, dates, choices).
    return lookup, field.to_representation, None


# Serializer fields whose to_representation returns these model columns' values unchanged
# (str(str), int(int), a bool, a text choice's own value).
_TEXT = {"CharField", "TextField", "SlugField", "EmailField"}
_INTEGER = {"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField", "AutoField", "BigAutoField"}
_INTEGER |= {"PositiveBigIntegerField", "PositiveSmallIntegerField"}
_IDENTITY = {
    serializers.CharField: _TEXT,
    serializers.ChoiceField: _TEXT,
    serializers.IntegerField: _INTEGER,
    serializers.BooleanField: {"BooleanField"},
}


def _shown(value, represent, tz):
    """A column's value as its serializer field shows it (None stays None)."""
    if value is None or represent is None:
        return value
    if represent is _iso_datetime:
        return _iso_datetime(value, tz)
    return represent(value)


def _is_plain_iso_datetime(field):
    return (
        type(field) is serializers.DateTimeField
        and settings.USE_TZ
        and not hasattr(field, "timezone")
        and getattr(field, "format", api_settings.DATETIME_FORMAT).lower() == ISO_8601
    )


def _iso_datetime(value, tz):
    """DRF's DateTimeField output (ISO 8601 in the current time zone `tz`, UTC as `Z`)
    without its per-value settings lookups."""
    value = value.astimezone(tz) if timezone.is_aware(value) else timezone.make_aware(value, tz)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _reverse_relation(model, name):
    """The reverse foreign key `name` of `model` (`steps` of a batch), or None."""
    try:
        relation = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if relation.one_to_many and relation.auto_created and not relation.concrete:
        return relation
    return None


def _model_path(model, attrs):
    """The model fields along `attrs` (forward relations, then one concrete field)."""
    path = []
    for index, attr in enumerate(attrs):
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return None
        if not model_field.concrete or model_field.many_to_many:
            return None
        path.append(model_field)
        if index < len(attrs) - 1:
            if not (model_field.many_to_one or model_field.one_to_one):
                return None
            model = model_field.related_model
    return path
