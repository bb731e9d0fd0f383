from django.db import transaction
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api.filtering import FilterBackend
from core.api.serializers import ActionInputSerializer
from core.api.viewsets import AuditedViewSet, RolePermission, SignatureRateThrottle, idempotency_parameter
from core.scoping import visible_to
from events import services
from events.filtersets import DomainEventFilterSet, WebhookDeliveryFilterSet, WebhookFilterSet
from events.models import DomainEvent, Webhook, WebhookDelivery

from .serializers import (
    DomainEventSerializer,
    EventFeedPageSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
)

FEED_LIMIT_DEFAULT = 100
FEED_LIMIT_MAX = 500


class SiteScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """Rows that are not GMP records (no history of their own), read by role and site."""

    permission_classes = [RolePermission]
    site_field = None

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.request.user, self.site_field)


class FeedSchema(AutoSchema):
    """The feed answers one page object ({results, next_cursor, has_more}), not an array."""

    def _is_list_view(self, serializer=None):
        return False


class DomainEventViewSet(SiteScopedReadOnlyViewSet):
    """The events feed, for clients that pull rather than subscribe: `?after=<cursor>` returns
    the events of your sites after that cursor, oldest first; `next_cursor` is the cursor to
    send next time (the same when nothing new has happened). A cursor never skips an event
    that commits late."""

    queryset = DomainEvent.objects.select_related("site")
    serializer_class = DomainEventSerializer
    filterset_class = DomainEventFilterSet
    lookup_field = "event_id"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    site_field = "site"
    pagination_class = None
    filter_backends = [FilterBackend]
    schema = FeedSchema()

    def get_queryset(self):
        queryset = visible_to(services.committed_events().select_related("site"), self.request.user, self.site_field)
        return queryset.order_by("position")

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Cursor: events after this one (0 or absent: from the start)."),
            OpenApiParameter(
                "limit",
                int,
                description=f"At most this many events (default {FEED_LIMIT_DEFAULT}, up to {FEED_LIMIT_MAX}).",
            ),
            OpenApiParameter("type", str, description="Event types, comma-separated (BATCH_COMPLETED,LOT_RELEASED)."),
        ],
        responses={200: EventFeedPageSerializer},
        operation_id="events_feed",
    )
    def list(self, request, *args, **kwargs):
        limit = self._limit()
        events = list(self.filter_queryset(self.get_queryset())[: limit + 1])
        has_more = len(events) > limit
        events = events[:limit]
        after = request.query_params.get("after") or "0"
        next_cursor = str(events[-1].position) if events else after
        return Response(
            {
                "results": DomainEventSerializer(events, many=True).data,
                "next_cursor": next_cursor,
                "has_more": has_more,
            }
        )

    def _limit(self):
        raw = self.request.query_params.get("limit")
        if raw is None:
            return FEED_LIMIT_DEFAULT
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= FEED_LIMIT_MAX:
            raise ValidationError({"limit": [f"Must be a whole number from 1 to {FEED_LIMIT_MAX}."]})
        return limit


class WebhookViewSet(AuditedViewSet):
    """Webhooks: POST `{site, url, event_types, secret}` to receive the events of one site,
    each body signed in `X-EBR-Signature` (sha256=HMAC-SHA256 of the body with the secret).
    Deactivate with `is_active: false`; a webhook that has deliveries is kept."""

    queryset = Webhook.objects.select_related("site", "created_by", "updated_by")
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilterSet
    search_fields = ["url", "description"]
    ordering_fields = ["id", "url", "created_at", "updated_at"]
    site_field = "site"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    @extend_schema(request=WebhookSerializer, responses={201: WebhookSerializer}, parameters=[idempotency_parameter])
    def create(self, request, *args, **kwargs):
        serializer = WebhookSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("reason", None)
        webhook = services.register_webhook(actor=request.user, **data)
        return self.respond_with(webhook, status=201)

    def perform_update(self, serializer):
        record = Webhook.objects.select_for_update().get(pk=serializer.instance.pk)
        self.check_if_match(record)
        changes = dict(serializer.validated_data)
        reason = changes.pop("reason", None)
        serializer.instance = services.update_webhook(record, actor=self.request.user, reason=reason, **changes)


class WebhookDeliveryViewSet(SiteScopedReadOnlyViewSet):
    """Webhook deliveries: pending (retried with exponential backoff), delivered, or `dead` after
    the last retry failed (`?status=dead`). `POST {id}/redeliver/` sends one again."""

    queryset = WebhookDelivery.objects.select_related("webhook", "event", "redelivery_requested_by")
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet
    ordering_fields = ["id", "next_attempt_at", "created_at"]
    search_fields = []
    site_field = "webhook__site"
    signature_throttle_scope = "signature"

    def get_throttles(self):
        return [SignatureRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(request=ActionInputSerializer, responses=WebhookDeliverySerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """A dead or delivered delivery, sent again from its first attempt by the relay."""
        ActionInputSerializer(data=request.data).is_valid(raise_exception=True)
        with transaction.atomic():
            delivery = services.redeliver(self.get_object(), actor=request.user)
        return Response(WebhookDeliverySerializer(delivery, context=self.get_serializer_context()).data)
