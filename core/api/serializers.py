"""Serializer building blocks shared by every app."""

from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.models import SignatureMeaning
from core.scoping import scope_relation_choices


def username_field(**kwargs):
    """A user shown by username; read-only, and null while nobody has acted yet."""
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True, **kwargs)


def change_reason_field():
    """The optional `reason` a write carries into the audit trail (never shown back)."""
    return serializers.CharField(write_only=True, required=False, help_text="Reason for the change (audit trail).")


class SiteScopedRelationsMixin:
    """Relations in a payload may only name records of the user's own sites."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        return scope_relation_choices(fields, getattr(request, "user", None))


class StrictFieldsMixin:
    """Mass-assignment guard: a write payload naming an unknown or read-only field is a
    400, never silently ignored (status and signatures change only through actions)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unexpected = sorted(set(data) - writable)
            if unexpected:
                raise serializers.ValidationError(
                    {name: ["This field is unknown or read-only."] for name in unexpected}
                )
        return super().to_internal_value(data)


class AuditedModelSerializer(SiteScopedRelationsMixin, StrictFieldsMixin, serializers.ModelSerializer):
    """Creates and updates through the model's audited save(), with the acting user from
    the request (never from the payload) and an optional reason for change."""

    audit_fields = ["created_at", "created_by", "updated_at", "updated_by"]
    created_by = username_field()
    updated_by = username_field()

    def _actor(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def create(self, validated_data):
        many_to_many = {
            name: validated_data.pop(name)
            for name, field in list(self.fields.items())
            if isinstance(field, serializers.ManyRelatedField) and name in validated_data
        }
        reason = validated_data.pop("reason", None)
        instance = self.Meta.model(**validated_data)
        with transaction.atomic():
            instance.full_clean(exclude=self._full_clean_exclusions(instance))
            instance.save(actor=self._actor(), reason=reason)
            for name, value in many_to_many.items():
                getattr(instance, name).set(value)
        return instance

    def update(self, instance, validated_data):
        reason = validated_data.pop("reason", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        with transaction.atomic():
            instance.full_clean(exclude=self._full_clean_exclusions(instance))
            instance.save(actor=self._actor(), reason=reason)
        return instance

    def _full_clean_exclusions(self, instance):
        # Uniqueness and relations are checked by the serializer and the database.
        return [field.name for field in instance._meta.fields if field.name not in self.fields]


class ChainHeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()


class ChainBreakSerializer(serializers.Serializer):
    aggregate = serializers.CharField()
    seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField()
    table = serializers.CharField()
    row_id = serializers.JSONField(allow_null=True)
    details = serializers.DictField()


class AuditVerificationSerializer(serializers.Serializer):
    """GET <resource>/{id}/verify/: the keyed hash chain of the record's aggregate."""

    aggregate = serializers.CharField()
    intact = serializers.BooleanField()
    links = serializers.IntegerField()
    head = ChainHeadSerializer()
    first_break = ChainBreakSerializer(allow_null=True)
    verified_at = serializers.DateTimeField()


class SignatureSerializer(serializers.Serializer):
    """Output only (its fields are not marked read-only so the schema can describe it
    for the read-only `signatures` field of every record)."""

    id = serializers.IntegerField()
    signer = serializers.CharField(source="signer_username")
    signer_name = serializers.CharField(source="signer_full_name")
    meaning = serializers.ChoiceField(choices=SignatureMeaning.choices)
    signed_at = serializers.DateTimeField()
    comment = serializers.CharField()
    record_status = serializers.CharField()
    content_hash = serializers.CharField()
    valid = serializers.BooleanField()


@extend_schema_field(SignatureSerializer(many=True))
class SignaturesField(serializers.Field):
    """The record's signatures, each with `valid`: does it still match the record's content?

    Reads `record.signatures.all()`, so list views prefetch `signatures__signer` ... or just
    `signatures` (the printed name is stored on the signature itself)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, record):
        current = record.content_hash()
        serializer = SignatureSerializer()  # one instance for all rows: a 200-step batch has hundreds
        rows = []
        for signature in record.signatures.all():
            signature.valid = signature.is_valid_for(current)
            rows.append(serializer.to_representation(signature))
        return rows


class ActionInputSerializer(SiteScopedRelationsMixin, StrictFieldsMixin, serializers.Serializer):
    """Base of every action body: unknown fields are refused (400)."""


class SignatureInputSerializer(ActionInputSerializer):
    """The body of a signing action: the re-entered password (21 CFR 11.200(a))."""

    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    username = serializers.CharField(required=False, help_text="If sent, must be the signed-in user.")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonInputSerializer(ActionInputSerializer):
    reason = serializers.CharField(help_text="Why this is done; kept in the audit trail.")


class SignedReasonInputSerializer(SignatureInputSerializer):
    reason = serializers.CharField(help_text="Why this is done; kept in the audit trail.")


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    changes = HistoryChangeSerializer(many=True)


def workflow_facts(context):
    """The guards' memo of one representation (shared by every record it shows)."""
    from core.workflow import Facts

    return context.setdefault("workflow_facts", Facts())


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class AllowedActionsField(serializers.Field):
    """The workflow actions the requesting user may take on the record now: those whose
    state, role permission and guards pass (as `Workflow.perform` would judge them)."""

    def __init__(self, workflow, **kwargs):
        self.workflow = workflow
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, record):
        request = self.context.get("request")
        if request is None:
            return []
        root = self.root
        if not hasattr(root, "_context"):
            root._context = {}
        return self.workflow.allowed_actions(record, request.user, workflow_facts(root._context))
