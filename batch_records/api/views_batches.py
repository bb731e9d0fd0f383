from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from batch_records.choices import BatchStatus
from batch_records.filtersets import BatchDeviationFilterSet, BatchRecordFilterSet, BatchStepFilterSet
from batch_records.models import BatchDeviation, BatchEquipment, BatchMaterial, BatchRecord, BatchStep
from batch_records.services import batches, deviations, guards, review_rules, steps
from batch_records.workflows import BATCH_DEVIATION_WORKFLOW, BATCH_WORKFLOW, STEP_WORKFLOW
from core.api.serializers import (
    ReasonInputSerializer,
    SignatureInputSerializer,
    SignedReasonInputSerializer,
)
from core.api.viewsets import AuditedViewSet, idempotency_parameter
from core.exceptions import Conflict
from core.services import lock

from .serializers_batches import (
    BatchAbortInputSerializer,
    BatchCompleteInputSerializer,
    BatchDeviationCreateSerializer,
    BatchDeviationListSerializer,
    BatchDeviationResolveInputSerializer,
    BatchDeviationSerializer,
    BatchDeviationUpdateSerializer,
    BatchNextSerializer,
    BatchRecordCreateSerializer,
    BatchRecordListSerializer,
    BatchRecordSerializer,
    BatchReviewSerializer,
    BatchStepListSerializer,
    BatchStepSerializer,
    StepCompleteInputSerializer,
    StepCorrectInputSerializer,
    next_step_row,
)
from .views_export import BatchExportMixin
from .views_inventory import BatchInventoryMixin

_AUDIT_USERS = ("created_by", "updated_by")


class BatchRecordViewSet(BatchInventoryMixin, BatchExportMixin, AuditedViewSet):
    """Batches: created from an approved MBR (a snapshot), started, completed; the detail
    nests steps, materials, equipment use, deviations and signatures."""

    queryset = BatchRecord.objects.select_related("mbr", "site", "reviewed_by", "released_by", *_AUDIT_USERS)
    detail_prefetch_related = [
        Prefetch(
            "steps",
            queryset=BatchStep.objects.select_related("operator", "verifier", *_AUDIT_USERS).prefetch_related(
                "signatures", "deviations"
            ),
        ),
        Prefetch(
            "materials",
            queryset=BatchMaterial.objects.select_related(
                "dispensed_by", "verified_by", "consumed_by"
            ).prefetch_related("signatures"),
        ),
        Prefetch(
            "equipment",
            queryset=BatchEquipment.objects.select_related(
                "started_by", "ended_by", "calibration_verified_by", "cleaning_verified_by"
            ).prefetch_related("signatures"),
        ),
        Prefetch(
            "deviations",
            queryset=BatchDeviation.objects.select_related(
                "batch_step", "resolved_by", "closed_by", *_AUDIT_USERS
            ).prefetch_related("signatures"),
        ),
        "signatures",
    ]
    serializer_class = BatchRecordSerializer
    list_serializer_class = BatchRecordListSerializer
    # List rows show the MBR's id, version and product, never its JSON content.
    list_defer = ("mbr__bill_of_materials", "mbr__manufacturing_instructions", "mbr__quality_specifications")
    # 200 steps with their signatures: read as values, not ~1,500 model instances.
    detail_from_values = True
    filterset_class = BatchRecordFilterSet
    search_fields = ["batch_id", "batch_number", "lot_number", "mbr__product_code", "mbr__product_name"]
    ordering_fields = [
        "batch_id",
        "batch_number",
        "lot_number",
        "status",
        "quantity_planned",
        "yield_percentage",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    site_field = "site"
    deletable_statuses = {BatchStatus.PENDING}
    workflow = BATCH_WORKFLOW
    action_inputs = {
        "complete": BatchCompleteInputSerializer,
        "release": SignatureInputSerializer,
        "reject": SignedReasonInputSerializer,
        "quarantine": ReasonInputSerializer,
        "return_to_review": ReasonInputSerializer,
        "cancel": SignedReasonInputSerializer,
        "abort": BatchAbortInputSerializer,
    }

    @extend_schema(
        request=BatchRecordCreateSerializer,
        responses={201: BatchRecordSerializer},
        parameters=[idempotency_parameter],
    )
    def create(self, request, *args, **kwargs):
        """A pending batch from an approved, effective MBR, with its steps and materials."""
        serializer = BatchRecordCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        batch = batches.create_batch(actor=request.user, **serializer.validated_data)
        return self.respond_with(batch, status=201)

    def check_editable(self, record):
        guards.ensure_batch_open(record, "update")
        super().check_editable(record)

    def perform_destroy(self, instance):
        record = lock(instance)
        guards.ensure_batch_open(record, "delete")
        if record.deviations.exists():
            raise Conflict(
                f"Cannot delete {record.batch_id}: deviations were reported on it, and its record is kept.",
                current_status=record.status,
                action="delete",
            )
        # Issue 19: a batch with history beyond its creation (edited, equipment planned) is
        # kept; one that will not be made is cancelled, with its reason and a signature.
        pending = record.status == BatchStatus.PENDING  # any other status: the 409 below names it
        if pending and (record.history.count() > 1 or record.equipment.exists()):
            raise Conflict(
                f"Cannot delete {record.batch_id}: it has a history beyond its creation, and its record is kept. "
                "Cancel it instead (POST cancel/ with the reason and your signature).",
                current_status=record.status,
                action="delete",
            )
        super().perform_destroy(record)

    # --- QA review and disposition ------------------------------------------------------

    @extend_schema(responses=BatchNextSerializer, filters=False)
    @action(detail=True, methods=["get"], url_path="next")
    def next_steps(self, request, pk=None):
        """The operator's next step: the steps you can act on now (in progress, the next pending
        one, those awaiting your second-person verification), each with its data fields (type,
        unit, limits), instruction, required verification and the actions allowed to you."""
        batch = self.get_object()
        rows = [next_step_row(step, actions) for step, actions in steps.next_steps(batch, request.user)]
        body = {"batch": batch.pk, "batch_id": batch.batch_id, "status": batch.status, "steps": rows}
        return Response(BatchNextSerializer(body).data)

    @extend_schema(methods=["GET"], request=None, responses=BatchReviewSerializer)
    @extend_schema(
        methods=["POST"],
        request=SignatureInputSerializer,
        responses=BatchRecordSerializer,
        parameters=[idempotency_parameter],
    )
    @action(detail=True, methods=["get", "post"])
    def review(self, request, pk=None):
        """GET: the review-by-exception list (`exceptions`; `review_by_exception` is true only when
        it is empty) and the release conditions still unmet. POST (QA, batch under review): document
        the review, signed "reviewed"; records `reviewed_by` and `reviewed_at`."""
        if request.method == "POST":
            return self.run_transition(BATCH_WORKFLOW, "review", SignatureInputSerializer)
        batch = self.get_object()
        return Response(BatchReviewSerializer(review_rules.batch_review(batch)).data)


class BatchStepViewSet(AuditedViewSet):
    """The steps of the batches: snapshot of the MBR instructions, executed through actions."""

    queryset = BatchStep.objects.select_related("batch", "operator", "verifier", *_AUDIT_USERS)
    detail_prefetch_related = ["signatures", "deviations"]
    # Read as values: the answer to every step action (start, complete...) on the shop floor.
    detail_from_values = True
    serializer_class = BatchStepSerializer
    list_serializer_class = BatchStepListSerializer
    filterset_class = BatchStepFilterSet
    search_fields = ["batch__batch_id", "batch__batch_number", "instruction_text"]
    ordering_fields = ["batch", "step_number", "status", "started_at", "completed_at", "created_at", "updated_at"]
    site_field = "batch__site"
    # Steps come from the MBR snapshot and change only through their actions. Actions
    # declared in the workflow without a route written here (`record`) are generated.
    http_method_names = ["get", "post", "head", "options"]
    workflow = STEP_WORKFLOW
    action_inputs = {
        "complete": StepCompleteInputSerializer,
        "verify": SignatureInputSerializer,
        "skip": SignedReasonInputSerializer,
        "correct": StepCorrectInputSerializer,
        "record": StepCompleteInputSerializer,
    }

    def create(self, request, *args, **kwargs):
        raise MethodNotAllowed("POST", detail="Steps are created with their batch, from its master batch record.")


class BatchDeviationViewSet(AuditedViewSet):
    """Deviations in batches: reported by operators or opened by the system; investigated,
    resolved (root cause, signed) and closed by QA."""

    queryset = BatchDeviation.objects.select_related("batch", "batch_step", "resolved_by", "closed_by", *_AUDIT_USERS)
    detail_prefetch_related = ["signatures"]
    serializer_class = BatchDeviationSerializer
    list_serializer_class = BatchDeviationListSerializer
    filterset_class = BatchDeviationFilterSet
    search_fields = ["deviation_id", "description", "batch__batch_id", "batch__batch_number"]
    ordering_fields = ["deviation_id", "status", "deviation_type", "created_at", "updated_at"]
    site_field = "batch__site"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    workflow = BATCH_DEVIATION_WORKFLOW
    action_inputs = {"resolve": BatchDeviationResolveInputSerializer, "close": SignatureInputSerializer}

    def get_serializer_class(self):
        if self.action == "partial_update":
            return BatchDeviationUpdateSerializer
        return super().get_serializer_class()

    @extend_schema(
        request=BatchDeviationCreateSerializer,
        responses={201: BatchDeviationSerializer},
        parameters=[idempotency_parameter],
    )
    def create(self, request, *args, **kwargs):
        """Report a deviation in a batch of your site (it opens in status `open`)."""
        serializer = BatchDeviationCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        deviation = deviations.open_batch_deviation(data.pop("batch"), actor=request.user, **data)
        return self.respond_with(deviation, status=201)

    def perform_update(self, serializer):
        """The investigation is written through its service: batch row locked first."""
        _, record = deviations.lock_batch_and_deviation(serializer.instance)
        self.check_if_match(record)
        changes = dict(serializer.validated_data)
        reason = changes.pop("reason", None)
        serializer.instance = deviations.update_batch_deviation(
            record, actor=self.request.user, reason=reason, **changes
        )

    def perform_destroy(self, instance):
        batch, record = deviations.lock_batch_and_deviation(instance)
        guards.ensure_batch_open(batch, "delete", record)
        # No status is deletable: a reported deviation is a GMP record and is kept (409).
        super().perform_destroy(record)
