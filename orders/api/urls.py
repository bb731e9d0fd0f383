from rest_framework.routers import DefaultRouter

from .views import ProductionOrderViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("production-orders", ProductionOrderViewSet, basename="productionorder")

urlpatterns = router.urls
