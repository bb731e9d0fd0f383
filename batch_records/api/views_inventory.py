"""`GET batch-records/{id}/availability/` (the dry run of dispensing) and
`GET batch-records/{id}/genealogy/` (the lots a batch consumed): added to the batch record
viewset, whose site scoping and view permission they share."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from core.scoping import visible_to

from .. import genealogy
from .serializers_inventory import BatchAvailabilitySerializer, BatchGenealogySerializer


class BatchInventoryMixin:
    def _batch_for_inventory(self):
        # The batch alone: none of the detail prefetches (steps, signatures...) are needed.
        queryset = visible_to(self.queryset.model.objects.select_related("mbr", "site"), self.request.user, "site")
        batch = get_object_or_404(queryset, pk=self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        self.check_object_permissions(self.request, batch)
        return batch

    @extend_schema(responses=BatchAvailabilitySerializer, filters=False)
    @action(detail=True, methods=["get"])
    def availability(self, request, pk=None):
        """Dry run: per material line, the quantity still to dispense, what released, unexpired lots
        at the batch's site hold, the shortfall, and the lots FEFO would draw. Changes nothing."""
        batch = self._batch_for_inventory()
        return Response(BatchAvailabilitySerializer(genealogy.batch_availability(batch)).data)

    @extend_schema(responses=BatchGenealogySerializer, filters=False)
    @action(detail=True, methods=["get"])
    def genealogy(self, request, pk=None):
        """Backward genealogy: the lots each material line drew (quantities, supplier, supplier lot),
        the finished-goods lots produced, and the cost snapshot taken at completion."""
        batch = self._batch_for_inventory()
        return Response(BatchGenealogySerializer(genealogy.batch_genealogy(batch)).data)
