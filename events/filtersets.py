import django_filters

from core.filtersets import AuditedFilterSet

from .choices import DeliveryStatus
from .models import DomainEvent, Webhook, WebhookDelivery


class DomainEventFilterSet(django_filters.FilterSet):
    # The feed cursor: events after this position, oldest first.
    after = django_filters.NumberFilter(field_name="position", lookup_expr="gt", min_value=0)
    type = django_filters.CharFilter(field_name="event_type", method="filter_types")
    occurred_at__gte = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")

    class Meta:
        model = DomainEvent
        fields = ["after", "type", "aggregate_type", "aggregate_id", "site"]

    def filter_types(self, queryset, name, value):
        """`?type=BATCH_COMPLETED,BATCH_RELEASED`: any of the listed types."""
        return queryset.filter(event_type__in=[part.strip() for part in value.split(",") if part.strip()])


class WebhookFilterSet(AuditedFilterSet):
    class Meta:
        model = Webhook
        fields = ["site", "is_active"]


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter(field_name="event__event_type")
    event_id = django_filters.UUIDFilter(field_name="event__event_id")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "webhook", "event_type", "event_id"]
