"""The integrity kernel: audited base model, guarded querysets, numbered IDs, signatures."""

import hashlib
import json

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .exceptions import AuditBypassError


def current_request_user():
    """The signed-in user of the request being served, as simple-history's middleware saw it."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


class AuditedQuerySet(models.QuerySet):
    """A queryset with no bulk write: each of these would change rows without a history row."""

    def _refuse(self, name):
        raise AuditBypassError(
            f"{self.model.__name__}.objects.{name}() would bypass the audit trail; "
            "save or delete each record through its service."
        )

    def update(self, **kwargs):
        self._refuse("update")

    def bulk_update(self, objs, fields, batch_size=None):
        self._refuse("bulk_update")

    def bulk_create(self, objs, *args, **kwargs):
        self._refuse("bulk_create")

    def delete(self):
        self._refuse("delete")

    delete.queryset_only = True


AuditedManager = models.Manager.from_queryset(AuditedQuerySet)


class AuditStampedModel(models.Model):
    """Who and when, set on the server: `created_by`/`updated_by` come from the acting user
    passed by the service (or the signed-in user of the request), never from the payload.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    objects = AuditedManager()

    # Numbered records (MBR-0001, BR-0001...) name the field and the prefix.
    number_field = None
    number_prefix = None

    class Meta:
        abstract = True

    def save(self, *args, actor=None, reason=None, **kwargs):
        actor = actor or current_request_user()
        if actor is not None:
            if self._state.adding:
                self.created_by = actor
            self.updated_by = actor
            self._history_user = actor
        if reason:
            self._change_reason = reason
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = set(update_fields) | {"updated_at", "updated_by"}
        # The row, its number and its history row commit together or not at all.
        with transaction.atomic(savepoint=False):
            if self.number_field and self._state.adding and not getattr(self, self.number_field):
                setattr(self, self.number_field, next_number(self.number_prefix))
            super().save(*args, **kwargs)

    def delete(self, *args, actor=None, reason=None, **kwargs):
        actor = actor or current_request_user()
        if actor is not None:
            self._history_user = actor
        if reason:
            self._change_reason = reason
        with transaction.atomic(savepoint=False):
            return super().delete(*args, **kwargs)

    @property
    def display_id(self):
        if self.number_field:
            return getattr(self, self.number_field)
        return None


class AuditChainFields(models.Model):
    """The link an audit row carries in its record aggregate's keyed hash chain (core.chain).

    Written once with the row (history rows, signatures, ledger movements) and never changed:
    `chain_hash` is an HMAC, under key `chain_key_id`, of the row's content, its aggregate, its
    place `chain_seq` and the previous link's hash. Empty on rows written before chaining."""

    chain_aggregate = models.CharField(max_length=100, blank=True, default="", db_index=True, editable=False)
    chain_seq = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    chain_key_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    chain_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        abstract = True


class AuditChainHead(models.Model):
    """The last link of one record aggregate's chain. Its row lock orders the links of the
    aggregate (taken by the writing transaction, held to its end); its values let a
    verification see links cut off the end. Updated, never deleted (core.db_roles)."""

    runtime_privileges = ("SELECT", "INSERT", "UPDATE")

    aggregate = models.CharField(max_length=100, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        permissions = [("verify_audit_trail", "Can verify the audit trail's hash chains")]

    def __str__(self):
        return f"{self.aggregate} #{self.seq}"


class AuditedModel(AuditStampedModel):
    """Base of every GMP record: server-side stamps and a full, append-only history whose
    rows are links of a keyed hash chain."""

    history = HistoricalRecords(inherit=True, bases=[AuditChainFields])

    class Meta:
        abstract = True


class Counter(models.Model):
    """One row per numbered record type; locked by the creating transaction.

    Infrastructure, not a GMP record: no history of its own (each number it hands out is
    recorded in the history of the record that got it).
    """

    name = models.CharField(max_length=32, primary_key=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}: {self.value}"


def next_number(prefix, width=4):
    """The next ID for `prefix` (e.g. 'BR-0007'), race-free and gapless.

    The counter row stays locked until the caller's transaction ends, so two creators
    cannot get the same number, and a rolled-back creation gives its number back.
    """
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Counter._meta.db_table} (name, value) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                [prefix],
            )
        counter = Counter.objects.select_for_update().get(name=prefix)
        counter.value += 1
        counter.save(update_fields=["value"])
    return f"{prefix}-{counter.value:0{width}d}"


def canonical_json(value):
    """Deterministic JSON: sorted keys, no whitespace, Decimal and dates as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, ensure_ascii=False)


class SignableModel(models.Model):
    """A record that carries electronic signatures over a declared part of its content."""

    # The fields whose values a signature covers; a later change to any of them makes
    # the record's earlier signatures show `valid: false`.
    signed_fields = ()

    signatures = GenericRelation("core.Signature")

    class Meta:
        abstract = True

    def signed_content(self):
        content = {}
        for name in self.signed_fields:
            field = self._meta.get_field(name)
            content[name] = getattr(self, field.attname)
        return content

    def content_hash(self):
        """SHA-256 over the record's identity and signed content (21 CFR 11.70: binds the
        signature to this record, so it cannot be copied to another)."""
        return self.hash_content(self.pk, self.signed_content())

    @classmethod
    def hash_content(cls, pk, content):
        """The hash of record `pk` of this model with `content` ({signed field: value as
        stored, foreign keys as ids}); also used where rows are read without instances."""
        payload = {"record": cls._meta.label_lower, "id": pk, "content": content}
        return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class SignatureMeaning(models.TextChoices):
    PERFORMED = "performed", "Performed"
    VERIFIED = "verified", "Verified"
    APPROVED = "approved", "Approved"
    REVIEWED = "reviewed", "Reviewed"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    SKIPPED = "skipped", "Skipped"
    RETURNED = "returned", "Returned"
    OBSOLETED = "obsoleted", "Obsoleted"
    CORRECTED = "corrected", "Corrected"
    DISPENSED = "dispensed", "Dispensed"
    WAIVED = "waived", "Waived"
    FORCE_COMPLETED = "force_completed", "Force-completed"
    CANCELLED = "cancelled", "Cancelled"
    ABORTED = "aborted", "Aborted"
    UNLOCKED = "unlocked", "Unlocked"


class AppendOnlyQuerySet(models.QuerySet):
    """Rows written one by one and never changed (signatures, ledgers): no bulk write, no
    update, no delete."""

    def _refuse(self, name):
        raise AuditBypassError(f"{self.model.__name__} rows are append-only: {name}() is refused.")

    def update(self, **kwargs):
        self._refuse("update")

    def bulk_update(self, objs, fields, batch_size=None):
        self._refuse("bulk_update")

    def bulk_create(self, objs, *args, **kwargs):
        self._refuse("bulk_create")

    def delete(self):
        self._refuse("delete")

    delete.queryset_only = True


class Signature(AuditChainFields):
    """An electronic signature (21 CFR 11.50, 11.70): immutable once written.

    Created only through `core.services.sign()`; the database refuses UPDATE and DELETE.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    # 21 CFR 11.50(a): the printed name of the signer, as it was at signing.
    signer_username = models.CharField(max_length=150)
    signer_full_name = models.CharField(max_length=300)
    meaning = models.CharField(max_length=32, choices=SignatureMeaning.choices)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now, editable=False)
    record_status = models.CharField(max_length=32, blank=True)
    # HMAC-SHA-256, under key `hash_key_id`, of the record's content digest at signing
    # (core.chain.keyed_content_hash); signatures made before keys have no key id and a plain
    # SHA-256 digest.
    content_hash = models.CharField(max_length=64)
    hash_key_id = models.CharField(max_length=32, blank=True, default="")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["signed_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return f"{self.meaning} by {self.signer_username} at {self.signed_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditBypassError("Signatures are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditBypassError("Signatures are append-only.")

    def is_valid_for(self, record_hash):
        """Whether this signature was given over content whose digest is `record_hash`
        (`record.content_hash()` now)."""
        from .chain import signature_hash_matches

        return signature_hash_matches(self.content_hash, self.hash_key_id, record_hash, chained=bool(self.chain_hash))


class IdempotencyKey(models.Model):
    """The stored response of a POST sent with an `Idempotency-Key` header.

    Written in the same transaction as the work it answers for, so a retry either finds the
    committed response or finds nothing (and the work was rolled back). Infrastructure, not
    a GMP record: kept 24 hours, then purged (`manage.py purge_idempotency_keys`).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"
