"""The keyed hash chain over the audit trail (21 CFR 11.10(c, e); EU GMP Annex 11 §9).

Every audit row — each history row, signature and lot-ledger movement — is a link in the
chain of its record aggregate (a batch with its steps, materials, equipment uses,
deviations and serials; an MBR; a lot with its ledger; any other record on its own). A link
is an HMAC-SHA-256, under a server-held key that the database never sees, of the row's
canonical content, its aggregate and place, and the previous link. Whoever rewrites a row
without the key breaks the chain; whoever holds the key and rebuilds the chain is caught by
the anchors kept outside the database (core.verification).

Chains are per aggregate, so writers of different batches never wait on each other; within
an aggregate the chain-head row, locked by the writing transaction until it ends, orders
the links.

Keys: `EBR_AUDIT_KEYS` = "kid:secret,kid2:secret2", the current one `EBR_AUDIT_KEY_ID`
(default: the last listed). Rotating adds a key and makes it current; old links stay
verifiable as long as their key is listed.
"""

import datetime
import decimal
import hashlib
import hmac
import json
from functools import cache, lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router
from django.utils import timezone
from simple_history.models import HistoricalChanges

from .models import AuditChainFields, AuditChainHead, canonical_json

CHAIN_FIELDS = {field.name for field in AuditChainFields._meta.fields}
HEAD_TABLE = AuditChainHead._meta.db_table


# --- keys ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _parse_keys(spec, current):
    keys = {}
    for item in spec.split(","):
        key_id, separator, secret = item.strip().partition(":")
        if not separator or not key_id or not secret:
            raise ImproperlyConfigured("EBR_AUDIT_KEYS must read 'kid:secret,kid2:secret2'.")
        keys[key_id] = secret.encode("utf-8")
    current = current or key_id
    if current not in keys:
        raise ImproperlyConfigured(f"EBR_AUDIT_KEY_ID {current!r} is not among EBR_AUDIT_KEYS.")
    return current, keys


def audit_keys():
    """(current key id, {key id: secret})."""
    return _parse_keys(settings.EBR_AUDIT_KEYS, settings.EBR_AUDIT_KEY_ID)


class UnknownKey(Exception):
    pass


def keyed_hash(key_id, message):
    _, keys = audit_keys()
    try:
        key = keys[key_id]
    except KeyError:
        raise UnknownKey(key_id) from None
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


# --- signatures ------------------------------------------------------------------------


def keyed_content_hash(digest):
    """(key id, HMAC of a record's content digest) for a new signature (§11.70: without the
    key nobody can recompute it over changed content)."""
    key_id, _ = audit_keys()
    return key_id, keyed_hash(key_id, digest)


def signature_hash_matches(stored, key_id, digest, *, chained=False):
    if not key_id:
        # Signed before keys: a plain SHA-256 digest. Never so for a signature that is a link
        # of a chain (made after keys): an unkeyed hash there is a forgery.
        return not chained and stored == digest
    try:
        return hmac.compare_digest(stored, keyed_hash(key_id, digest))
    except UnknownKey:
        return False


# --- canonical row content -------------------------------------------------------------


def _normal_json(value):
    # A JSON number comes back from the database as the shortest form of its value.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _normal_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normal_json(item) for item in value]
    return value


def canonical_value(field, value):
    """`value` of `field` as the same string or number whether it comes from a model about
    to be saved or from the database afterwards."""
    if value is None:
        return None
    if field.is_relation:
        return canonical_value(field.target_field, value)
    if isinstance(field, models.JSONField):
        return _normal_json(json.loads(json.dumps(value, cls=field.encoder or DjangoJSONEncoder)))
    if isinstance(field, models.DecimalField):
        exponent = decimal.Decimal(1).scaleb(-field.decimal_places)
        return format(decimal.Decimal(str(value)).quantize(exponent, rounding=decimal.ROUND_HALF_UP), "f")
    if isinstance(field, models.DateTimeField):
        value = field.to_python(value)
        if timezone.is_naive(value):
            value = timezone.make_aware(value, datetime.UTC)
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(field, (models.DateField, models.TimeField, models.DurationField, models.UUIDField)):
        return str(field.to_python(value))
    if isinstance(field, models.FileField):
        return str(getattr(value, "name", value) or "")
    if isinstance(field, models.BooleanField):
        return bool(value)
    if isinstance(field, models.FloatField):
        return repr(float(value))
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return int(value)
    return str(value)


@cache
def content_fields(model):
    """The fields of an audit row that its link covers: all but its own auto id (assigned by
    the insert; the link's place identifies the row) and the link itself."""
    pk = model._meta.pk
    return tuple(
        field
        for field in model._meta.concrete_fields
        if field.name not in CHAIN_FIELDS and not (field is pk and isinstance(field, models.AutoField))
    )


def row_content(model, values):
    """{attname: canonical value} from `values` ({attname: value})."""
    return {field.attname: canonical_value(field, values[field.attname]) for field in content_fields(model)}


def link_hash(key_id, *, aggregate, seq, previous, table, content):
    message = canonical_json({"aggregate": aggregate, "seq": seq, "previous": previous, "table": table, "row": content})
    return keyed_hash(key_id, message)


# --- aggregates ------------------------------------------------------------------------


def aggregate_key(model, pk):
    return f"{model._meta.label_lower}:{pk}"


def aggregate_of(model, record):
    """The aggregate `record` (an instance of `model`) belongs to. A model names the foreign
    key to the record it is part of in `audit_aggregate` (BatchStep: "batch"), followed until
    a record names none: that record is the aggregate."""
    pk = record.pk
    while getattr(model, "audit_aggregate", None):
        field = model._meta.get_field(model.audit_aggregate)
        pk = getattr(record, field.attname)
        model = field.related_model
        if getattr(model, "audit_aggregate", None):
            record = field.get_cached_value(record, default=None) or model._base_manager.get(pk=pk)
    return aggregate_key(model, pk)


def root_model(model):
    while getattr(model, "audit_aggregate", None):
        model = model._meta.get_field(model.audit_aggregate).related_model
    return model


# --- writing a link --------------------------------------------------------------------


def _lock_head(cursor, aggregate):
    """The head of `aggregate`, created if new, locked until the transaction ends."""
    now = timezone.now()
    cursor.execute(
        f"INSERT INTO {HEAD_TABLE} (aggregate, seq, hash, updated_at) VALUES (%s, 0, '', %s) "
        "ON CONFLICT (aggregate) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING seq, hash",
        [aggregate, now],
    )
    return cursor.fetchone()


def link(row, aggregate, *, using=None):
    """Give audit row `row` (not yet saved) its link in `aggregate`'s chain.

    Runs inside the transaction that then inserts the row: the head row stays locked until
    that transaction ends, so no other writer of the aggregate can take the same place, and
    a rollback takes back the link with the row."""
    model = type(row)
    using = using or router.db_for_write(model)
    key_id, _ = audit_keys()
    values = {field.attname: getattr(row, field.attname) for field in content_fields(model)}
    with connections[using].cursor() as cursor:
        seq, previous = _lock_head(cursor, aggregate)
        seq += 1
        chain_hash = link_hash(
            key_id,
            aggregate=aggregate,
            seq=seq,
            previous=previous,
            table=model._meta.label_lower,
            content=row_content(model, values),
        )
        cursor.execute(
            f"UPDATE {HEAD_TABLE} SET seq = %s, hash = %s WHERE aggregate = %s", [seq, chain_hash, aggregate]
        )
    row.chain_aggregate = aggregate
    row.chain_seq = seq
    row.chain_key_id = key_id
    row.chain_hash = chain_hash


# --- signal receivers (connected in core.apps) -----------------------------------------


def link_history_row(sender, instance, history_instance, using=None, **kwargs):
    """pre_create_historical_record: a history row joins its record's aggregate."""
    if not isinstance(history_instance, AuditChainFields):
        return
    link(history_instance, aggregate_of(type(instance), instance), using=using)


def link_history_m2m_rows(sender, rows, history_instance, instance, **kwargs):
    """pre_create_historical_m2m_records: membership rows (a user's groups and sites) join
    the record's aggregate, one link each, in the order they are inserted."""
    aggregate = aggregate_of(type(instance), instance)
    for row in rows:
        if isinstance(row, AuditChainFields):
            link(row, aggregate)


def chained_models():
    """Every model whose rows are links: history tables, signatures, the lot ledger."""
    from django.apps import apps

    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if issubclass(model, AuditChainFields) and not model._meta.abstract
    ]


def link_append_only_row(sender, instance, raw=False, using=None, **kwargs):
    """pre_save of any other audit row (a signature, a ledger movement): a new row joins the
    aggregate of the record it belongs to (a signature: the signed record's)."""
    if raw or not isinstance(instance, AuditChainFields) or not instance._state.adding or instance.chain_hash:
        return
    if isinstance(instance, HistoricalChanges):
        return  # linked by link_history_row, with the record it is the history of
    from .models import Signature

    record = instance.record if isinstance(instance, Signature) else instance
    link(instance, aggregate_of(type(record), record), using=using)
