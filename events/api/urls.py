from rest_framework.routers import DefaultRouter

from .views import DomainEventViewSet, WebhookDeliveryViewSet, WebhookViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhookdelivery")
# The feed itself at /api/events/ (its detail takes an event UUID, so it never shadows the above).
router.register("", DomainEventViewSet, basename="domainevent")

urlpatterns = router.urls
