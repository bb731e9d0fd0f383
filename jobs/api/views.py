"""Background export jobs: `POST batch-records/{id}/export/` starts one (202 with the job's
URL); `GET /api/jobs/exports/{id}/` shows its status and progress; `…/download/` serves the
finished file, kept, with its SHA-256 in the job and in the `Digest` header."""

import base64

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exceptions import Conflict, NotPermitted
from core.scoping import visible_to
from jobs import services
from jobs.models import ExportJob, JobStatus

from .serializers import ExportJobRequestSerializer, ExportJobSerializer

VIEW_BATCHES = "batch_records.view_batchrecord"


class CanViewBatches(permissions.BasePermission):
    """An export job shows a batch record: whoever may read batch records (of its site)."""

    def has_permission(self, request, view):
        return request.user.has_perm(VIEW_BATCHES)


class ExportJobViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = ExportJob.objects.all()  # names the model; get_queryset scopes it
    serializer_class = ExportJobSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewBatches]
    filter_backends = []

    def get_queryset(self):
        queryset = ExportJob.objects.select_related("batch", "created_by")
        return visible_to(queryset, self.request.user, ExportJob.site_lookup)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The exported PDF."),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The exported document."),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The finished export, as stored when it was made (409 while it is not ready)."""
        job = self.get_object()
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(
                f"Export job {job.job_id} is {job.status}; the file can be downloaded once it has succeeded.",
                current_status=job.status,
                action="download",
            )
        response = FileResponse(job.file.open("rb"), as_attachment=True, filename=job.filename)
        response["Content-Type"] = job.content_type
        response["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(job.sha256)).decode()
        response["Cache-Control"] = "no-store"
        return response


def start_export_job(view, request, pk):
    """`POST batch-records/{id}/export/`: the export as a background job (202)."""
    if not request.user.has_perm(VIEW_BATCHES):
        raise NotPermitted("You do not have permission to read batch records.")
    batch = get_object_or_404(view.get_queryset().prefetch_related(None), pk=pk)
    body = ExportJobRequestSerializer(data=request.data, context={"request": request})
    body.is_valid(raise_exception=True)
    job = services.request_export(batch, actor=request.user, format=body.validated_data["format"])
    data = ExportJobSerializer(job, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})
