"""The one base viewset every resource uses (NetBox style).

It owns what every resource shares: writes in one transaction, site scoping, list vs
detail serializers, role permissions, the `history/` route, DELETE only on drafts, and a
helper that maps a workflow action to its service call.
"""

import hashlib

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from core.audit import history_entries
from core.exceptions import Conflict, NotPermitted, PreconditionFailed
from core.models import canonical_json
from core.scoping import visible_to
from core.services import lock
from core.verification import verify_record

from .fields import SparseFieldsMixin
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import IdempotentPostMixin
from .serializers import AuditVerificationSerializer, HistoryEntrySerializer
from .values import ValuesRows


def etag_of(data):
    """A strong validator for a representation: changes whenever anything shown changes
    (nested children included), which a timestamp alone would miss."""
    return '"' + hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:40] + '"'


def _etags(header):
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


class SignatureRateThrottle(ScopedRateThrottle):
    """Abuse limit on signing actions (each carries a password to guess): per user, shared
    cache. Unsigned actions (start) are not counted: an operator at shop-floor pace signs
    a fraction of the rate."""

    scope_attr = "signature_throttle_scope"


class RolePermission(permissions.DjangoModelPermissions):
    """Function-level authorization through the role groups' model permissions.

    Reading needs `view_<model>`; create/update/delete need add/change/delete. Workflow
    actions are checked by their service against the action's own permission.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        # Whoever may see a record learns that a GMP record is kept (409); the delete
        # permission itself is checked for drafts only (see perform_destroy).
        "DELETE": ["%(app_label)s.view_%(model_name)s"],
    }
    crud_actions = {"list", "retrieve", "create", "update", "partial_update", "destroy", "history", "metadata"}

    def _queryset(self, view):
        # Only the model is needed here: the class queryset names it without building the
        # scoped queryset a second time.
        queryset = getattr(view, "queryset", None)
        return queryset if queryset is not None else super()._queryset(view)

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if getattr(view, "action", None) not in self.crud_actions and request.method not in permissions.SAFE_METHODS:
            return True  # a workflow action: its service checks the action's permission
        return super().has_permission(request, view)


idempotency_parameter = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Retry-safe POST: the same key and body return the first response and do nothing twice.",
)


VERIFY_PERMISSION = "core.verify_audit_trail"


def record_action(input_serializer=None, *, methods=("post",), **kwargs):
    """A POST action route on one record, documented with its request body."""

    def decorator(func):
        # A body with a password signs: the signature throttle counts these actions only.
        func.signs = input_serializer is not None and "password" in input_serializer._declared_fields
        # action() first: drf-spectacular reads the schema override from the routed action.
        routed = action(detail=True, methods=list(methods), **kwargs)(func)
        return extend_schema(request=input_serializer, parameters=[idempotency_parameter])(routed)

    return decorator


def transition_route(workflow, transition, input_serializer):
    """The POST route of one declared transition: validates `input_serializer` and runs
    `workflow.perform` on the addressed record."""

    def route(self, request, pk=None):
        return self.run_transition(workflow, transition.action, input_serializer)

    route.__name__ = transition.action
    route.__doc__ = transition.doc or transition.label
    return record_action(input_serializer, url_path=transition.action, url_name=transition.action)(route)


class AuditedViewSet(SparseFieldsMixin, IdempotentPostMixin, viewsets.ModelViewSet):
    # The record's workflow: one POST route per declared transition, generated, whose body
    # is read with `action_inputs[action]` (ActionInputSerializer when not named). A route
    # defined on the class under the action's name is kept as written.
    workflow = None
    action_inputs = {}
    list_serializer_class = None
    # The lookup path from this model to users.Site; defaults to the model's `site_lookup`.
    site_field = None
    # Statuses in which DELETE is allowed (drafts); GMP records are never deleted otherwise.
    deletable_statuses = frozenset()
    # Prefetches only the detail representation needs (signatures, nested children).
    detail_prefetch_related = ()
    # Columns the list rows never show (large JSON of related records), left unread.
    list_defer = ()
    # Read the detail through a values() plan (core.api.values) instead of instances: for
    # large nested records; the output is the same (tested per resource that turns it on).
    detail_from_values = False
    # Set while an action reads its target: the service locks and re-reads it, and the
    # response reads it again (respond_with), so nothing related is read with it here.
    _target_only = False
    permission_classes = [RolePermission]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    signature_throttle_scope = "signature"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Records addressed by their integer id: any other text in the URL matches no route
        # (a JSON 404), never a lookup that fails on the conversion.
        if cls.lookup_field == "pk" and "lookup_value_regex" not in cls.__dict__:
            cls.lookup_value_regex = "[0-9]+"
        workflow = cls.__dict__.get("workflow")
        if workflow is None:
            return
        from .serializers import ActionInputSerializer

        for transition in workflow:
            if transition.action in cls.__dict__ or transition.action in cls.workflow_routes_elsewhere:
                continue
            input_serializer = cls.action_inputs.get(transition.action, ActionInputSerializer)
            setattr(cls, transition.action, transition_route(workflow, transition, input_serializer))

    # Transitions routed by hand under another method name (e.g. `return`, a keyword).
    workflow_routes_elsewhere = ()
    # Services that create and change the content: create_service(actor=, **data) and
    # update_service(record, actor=, **changes); they lock, check and save with history.
    create_service = None
    update_service = None

    def dispatch(self, request, *args, **kwargs):
        if request.method in permissions.SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # One transaction per write; an error response rolls everything back.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
        return response

    def get_queryset(self):
        queryset = super().get_queryset()
        if self._target_only or self._list_plan() is not None:
            # An action's target is locked and read again by its service; a list read as
            # values selects its own columns: neither needs the related rows.
            queryset = queryset.select_related(None)
        elif self.action == "list" and self.list_defer:
            queryset = queryset.defer(*self.list_defer)
        elif self.action not in ("list", "history", "verify") and self.detail_prefetch_related:
            # The history route reads the record's own history rows, not its nested children.
            queryset = queryset.prefetch_related(*self.detail_prefetch_related)
        return visible_to(queryset, self.request.user, self.site_field)

    def _list_plan(self):
        if self.action != "list":
            return None
        return self.only_requested(ValuesRows.for_serializer(self.get_serializer_class()))

    def _detail_serializer_class(self):
        """The serializer of a GET on one record, whatever the current action (a write may
        take another serializer; its ETag is still the one a GET shows)."""
        action, self.action = self.action, "retrieve"
        try:
            return self.get_serializer_class()
        finally:
            self.action = action

    def _detail_plan(self):
        if not self.detail_from_values:
            return None
        return self.only_requested(ValuesRows.for_serializer(self._detail_serializer_class()))

    def get_throttles(self):
        handler = getattr(self, self.action, None) if self.action else None
        if self.request.method == "POST" and getattr(handler, "signs", False):
            return [SignatureRateThrottle()]
        return super().get_throttles()

    def get_serializer_class(self):
        if self.action == "list" and self.list_serializer_class is not None:
            return self.list_serializer_class
        return super().get_serializer_class()

    # --- reads with validators ----------------------------------------------------------

    def list(self, request, *args, **kwargs):
        # Read through the serializer's values() plan (core.api.values) when it has one: the
        # same output, without a model instance per row and relation.
        plan = self._list_plan()
        if plan is None:
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset()).prefetch_related(None)
        page = self.paginate_queryset(ValuesRows.Page(queryset, plan.lookups))
        if page is None:
            return Response(plan.rows(queryset.values(*plan.lookups)))
        return self.get_paginated_response(plan.rows(page))

    @extend_schema(
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)],
        responses={200: None, 304: None},
    )
    def retrieve(self, request, *args, **kwargs):
        data = self.detail_representation()
        etag = etag_of(data)
        if etag in _etags(request.headers.get("If-None-Match", "")):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(data, headers={"ETag": etag})

    def detail_representation(self, pk=None):
        """The detail representation of the addressed record (or of the record `pk`, as
        visible to the user): the one read behind a GET, its ETag, the If-Match check and
        the answer to an action, through the values plan when the serializer has one."""
        plan = self._detail_plan()
        if plan is not None:
            return self.read_from_values(plan, **({} if pk is None else {"pk": pk}))
        record = self.get_object() if pk is None else self.get_queryset().get(pk=pk)
        return self.narrow(self._detail_serializer_class()(record, context=self.get_serializer_context())).data

    def read_from_values(self, plan, **lookup):
        """The detail representation of the addressed record (or of `lookup`), read through
        `plan`."""
        if lookup:
            queryset = self.get_queryset()
        else:
            lookup = {self.lookup_field: self.kwargs[self.lookup_url_kwarg or self.lookup_field]}
            queryset = self.filter_queryset(self.get_queryset())
        queryset = queryset.prefetch_related(None)
        try:
            values = list(queryset.filter(**lookup).values(*plan.lookups)[:2])
        except (TypeError, ValueError, DjangoValidationError):
            # A malformed id addresses nothing (as get_object_or_404); only the lookup is
            # guarded: an error while building the representation is an error, not a 404.
            raise Http404 from None
        if len(values) != 1:
            raise Http404
        return plan.rows(values, {"request": self.request})[0]

    @extend_schema(parameters=[idempotency_parameter])
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=False)])
    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        # The validator of the record as a GET now shows it (the body is the write serializer's).
        response["ETag"] = etag_of(self.detail_representation())
        return response

    def perform_create(self, serializer):
        if self.create_service is None:
            return super().perform_create(serializer)
        serializer.instance = type(self).create_service(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        record = lock(serializer.instance)
        self.check_if_match(record)
        if self.update_service is None:
            self.check_editable(record)
            serializer.instance = record
            serializer.save()
            return
        serializer.instance = type(self).update_service(record, actor=self.request.user, **serializer.validated_data)

    def check_if_match(self, record):
        """Optimistic concurrency: a stale `If-Match` is refused (412), checked on the row
        as locked, so a change committed meanwhile by someone else is never overwritten."""
        header = self.request.headers.get("If-Match")
        if not header or header.strip() == "*":
            return
        current = etag_of(self.detail_representation(pk=record.pk))
        if current not in _etags(header):
            raise PreconditionFailed(
                "The record has changed since you read it (If-Match does not match its ETag); "
                "read it again and reapply your change."
            )

    def check_editable(self, record):
        """Content changes only in the states the workflow declares editable (409 otherwise)."""
        if self.workflow is not None and self.workflow.editable:
            self.workflow.check_editable(record, ())

    def perform_destroy(self, instance):
        record = lock(instance)
        self.check_if_match(record)
        status = getattr(record, "status", None)
        if status not in self.deletable_statuses:
            label = record.display_id or f"{record._meta.verbose_name} {record.pk}"
            allowed = ", ".join(sorted(self.deletable_statuses)) or "no status"
            raise Conflict(
                f"Cannot delete {label}: GMP records are kept; only records in {allowed} may be "
                f"deleted, and this one is '{status}'.",
                current_status=status,
                action="delete",
            )
        delete_permission = f"{record._meta.app_label}.delete_{record._meta.model_name}"
        if not self.request.user.has_perm(delete_permission):
            raise NotPermitted("You do not have permission to delete this record.")
        record.delete(actor=self.request.user)

    def respond_with(self, record, status=200):
        """The record's detail representation, read again after the change."""
        return Response(self.detail_representation(pk=record.pk), status=status)

    def run_action(self, service, input_serializer=None, status=200, **extra):
        """Map a POST action to its service: validate the body, call, return the detail."""
        self._target_only = True
        try:
            record = self.get_object()
        finally:
            self._target_only = False
        data = {}
        if input_serializer is not None:
            serializer = input_serializer(data=self.request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
        result = service(record, actor=self.request.user, **data, **extra)
        return self.respond_with(result if result is not None else record, status=status)

    def run_transition(self, workflow, action, input_serializer=None, status=200):
        """Map a POST action to its declared transition: validate the body, perform, return
        the detail."""
        return self.run_action(
            lambda record, **data: workflow.perform(record, action, **data), input_serializer, status=status
        )

    # --- audit trail -----------------------------------------------------------------

    @extend_schema(responses=HistoryEntrySerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def history(self, request, *args, **kwargs):
        """The record's audit trail: who changed what, when and why, field by field."""
        record = self.get_object()
        rows = record.history.select_related("history_user").order_by("history_id")
        page = self.paginate_queryset(rows)
        previous = rows.filter(history_id__lt=page[0].history_id).last() if page else None
        entries = history_entries(page, previous)
        return self.get_paginated_response(HistoryEntrySerializer(entries, many=True).data)

    @extend_schema(responses=AuditVerificationSerializer, filters=False)
    @action(detail=True, methods=["get"])
    def verify(self, request, *args, **kwargs):
        """QA: recompute the keyed hash chain of the audit trail this record belongs to (a batch
        with its steps, materials, equipment and deviations; an MBR; a lot with its ledger)."""
        if not request.user.has_perm(VERIFY_PERMISSION):
            raise NotPermitted("Verifying the audit trail is for QA (permission core.verify_audit_trail).")
        record = self.get_object()
        report = verify_record(record).as_dict()
        report["verified_at"] = timezone.now()
        return Response(AuditVerificationSerializer(report).data)
