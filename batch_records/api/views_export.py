"""`GET batch-records/{id}/export/?format=json|pdf`: the executed batch record as a complete
copy, electronic or printed (21 CFR 11.10(b), EU GMP Annex 11 §8.2)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from batch_records import export
from jobs.api.serializers import ExportJobRequestSerializer, ExportJobSerializer
from jobs.api.views import start_export_job

FORMATS = ("json", "pdf")


class PDFRenderer(renderers.BaseRenderer):
    """Serves bytes already rendered as a PDF. An error answer on the same route (404,
    403...) is still JSON, with its own content type: a client never gets an error body
    labelled as a PDF."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return renderers.JSONRenderer().render(data, "application/json", renderer_context)


class BatchExportMixin:
    """Adds the export action to the batch record viewset (site scoping and the view
    permission come from the viewset, as for any read)."""

    def perform_content_negotiation(self, request, force=False):
        if getattr(self, "action", None) != "export" or force:
            return super().perform_content_negotiation(request, force)
        requested = request.query_params.get("format")
        if requested is not None and requested not in FORMATS:
            raise ValidationError({"format": [f"must be one of {', '.join(FORMATS)}, not '{requested}'."]})
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                OpenApiParameter.QUERY,
                enum=list(FORMATS),
                description="json (default) or pdf (a download named <batch_id>-executed-batch-record.pdf).",
            )
        ],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The export document."),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The same, printed."),
        },
        filters=False,
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, PDFRenderer])
    def export(self, request, pk=None):
        """The complete executed batch record, in any status (unreleased batches say so in
        the header): header and yield, MBR and its approval, materials, equipment use, every
        step with values and limits, every signature with its validity, deviations, the audit
        trail of the batch and its children, and values corrected after first entry."""
        # The viewset's detail prefetches are not needed: the export reads what it shows.
        queryset = self.get_queryset().prefetch_related(None)
        batch = get_object_or_404(queryset, pk=pk)
        self.check_object_permissions(request, batch)
        document = export.build_batch_export(batch, exported_by=request.user)
        headers = {"Cache-Control": "no-store"}
        if request.accepted_renderer.format == "pdf":
            filename = export.export_filename(batch.batch_id)
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
            return Response(export.render_batch_export_pdf(document), headers=headers)
        return Response(document, headers=headers)

    @extend_schema(request=ExportJobRequestSerializer, responses={202: ExportJobSerializer}, filters=False)
    @export.mapping.post
    def export_in_background(self, request, pk=None):
        """Start the export as a background job (for large records): 202 with the job's URL
        in `Location` and `url`; poll it for status and progress, then download the file."""
        return start_export_job(self, request, pk)
