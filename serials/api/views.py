from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from batch_records.models import BatchRecord
from core.api.serializers import ReasonInputSerializer
from core.api.viewsets import AuditedViewSet, record_action
from core.scoping import scope_to_user_sites
from serials import services
from serials.device_history import (
    DEVICE_HISTORY_PREFETCH,
    DEVICE_HISTORY_RELATED,
    device_history_record,
    render_device_history_pdf,
)
from serials.filtersets import SerialNumberFilterSet
from serials.models import SerialNumber

from .serializers import (
    SerialAdvanceInputSerializer,
    SerialAdvanceToStepInputSerializer,
    SerialForceCompleteInputSerializer,
    SerialNumberListSerializer,
    SerialNumberSerializer,
    SerialProgressSerializer,
    SerialWaiveStepInputSerializer,
)

# Numeric ids beyond a 64-bit integer are no id at all (and would overflow the database driver).
_MAX_ID_DIGITS = 18
_MAX_NUMBER_LENGTH = 20


class PDFRenderer(BaseRenderer):
    """`?format=pdf`: the view hands over the PDF bytes as they are."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _lookup(value, number_field):
    """The filter for a record addressed by its numeric id or by its number ("SN-00001",
    "BR-0001"); None for a value that cannot name one (never sent to the database)."""
    if value.isdigit() and len(value) <= _MAX_ID_DIGITS:
        return {"pk": int(value)}
    if value.isdigit() or len(value) > _MAX_NUMBER_LENGTH or not value.isprintable():
        return None
    return {number_field: value}


class SerialNumberViewSet(AuditedViewSet):
    """The units of serialized batches, generated when their batch starts; each one is
    addressed by its id or its serial ID (`SN-00001`) and moves on through actions."""

    queryset = SerialNumber.objects.select_related(*DEVICE_HISTORY_RELATED)
    detail_prefetch_related = DEVICE_HISTORY_PREFETCH
    serializer_class = SerialNumberSerializer
    list_serializer_class = SerialNumberListSerializer
    filterset_class = SerialNumberFilterSet
    search_fields = ["serial_id", "batch__batch_id", "batch__batch_number", "batch__lot_number"]
    ordering_fields = ["serial_id", "status", "current_step_index", "completed_at", "created_at", "updated_at"]
    site_field = "batch__site"
    # Addressed as /serials/SN-00001/ or /serials/12/ (see get_object).
    lookup_field = "serial_id"
    lookup_url_kwarg = "id"
    http_method_names = ["get", "post", "head", "options"]

    def get_object(self):
        value = str(self.kwargs[self.lookup_url_kwarg])
        lookup = _lookup(value, "serial_id")
        serial = self.filter_queryset(self.get_queryset()).filter(**lookup).first() if lookup else None
        if serial is None:
            raise NotFound(f"Serial not found: {value}")
        self.check_object_permissions(self.request, serial)
        return serial

    def create(self, request, *args, **kwargs):
        raise MethodNotAllowed("POST", detail="Serials are generated when their serialized batch starts.")

    def finalize_response(self, request, response, *args, **kwargs):
        # An error asked for as PDF is still answered in JSON.
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and getattr(renderer, "format", None) == PDFRenderer.format:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @record_action(SerialAdvanceInputSerializer)
    def advance(self, request, **kwargs):
        """Perform the unit's current step: `actual_values` typed and checked against the step's
        specifications, signed "performed"; the unit moves to its next open step, or is completed."""
        return self.run_action(services.advance_serial, SerialAdvanceInputSerializer)

    @record_action(SerialAdvanceToStepInputSerializer)
    def advance_to_step(self, request, **kwargs):
        """Move the unit forward to `step_number` with a `reason`, past steps that are completed,
        waived or optional (409 with `blocking_steps` otherwise; never backwards)."""
        return self.run_action(services.advance_serial_to_step, SerialAdvanceToStepInputSerializer)

    @record_action(SerialWaiveStepInputSerializer)
    def waive_step(self, request, **kwargs):
        """Waive `step_number` for this unit with a `reason`, signed "waived"."""
        return self.run_action(services.waive_serial_step, SerialWaiveStepInputSerializer)

    @record_action(ReasonInputSerializer)
    def scrap(self, request, **kwargs):
        """in_progress → scrapped, with a `reason`; the unit counts as rejected."""
        return self.run_action(services.scrap_serial, ReasonInputSerializer)

    @record_action(SerialForceCompleteInputSerializer)
    def force_complete(self, request, **kwargs):
        """Complete a unit whose required steps are not all done, signed "force_completed"; the
        answer lists the bypassed steps in `incomplete_step_ids`. Irreversible."""
        return self.run_action(services.force_complete_serial, SerialForceCompleteInputSerializer)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "pdf"], description="json (default) or pdf")],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The record as data."),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The record as a PDF."),
        },
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="device-history-record",
        renderer_classes=[JSONRenderer, PDFRenderer],
    )
    def device_history_record(self, request, **kwargs):
        """The device history record of the unit (21 CFR 820.184): each step with who, when,
        values, waivers and signatures (printed name, meaning), and any force-completion."""
        serial = self.get_object()
        record = device_history_record(serial)
        if request.accepted_renderer.format == PDFRenderer.format:
            response = HttpResponse(render_device_history_pdf(record), content_type=PDFRenderer.media_type)
            response["Content-Disposition"] = f'inline; filename="DHR-{serial.serial_id}.pdf"'
            return response
        return Response(record)

    @extend_schema(
        parameters=[OpenApiParameter("batch", str, required=True, description="The batch's id or batch ID (BR-0001).")],
        responses=SerialProgressSerializer,
        filters=False,
    )
    @action(detail=False, methods=["get"])
    def progress(self, request):
        """How many units of a batch are completed (force-completed included), scrapped, in progress."""
        value = request.query_params.get("batch", "").strip()
        if not value:
            raise ValidationError({"batch": ["Name the batch: ?batch=<id> or ?batch=<batch ID>."]})
        batches = scope_to_user_sites(BatchRecord.objects.all(), request.user, "site")
        lookup = _lookup(value, "batch_id")
        batch = batches.filter(**lookup).first() if lookup else None
        if batch is None:
            raise NotFound(f"Batch not found: {value}")
        progress = services.serial_progress(batch)
        return Response(SerialProgressSerializer({"batch": batch.pk, "batch_id": batch.batch_id, **progress}).data)
