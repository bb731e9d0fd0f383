from rest_framework.routers import DefaultRouter

from .views import LotMovementViewSet, LotViewSet, MaterialViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("materials", MaterialViewSet, basename="inventory-material")
router.register("lots", LotViewSet, basename="inventory-lot")
router.register("movements", LotMovementViewSet, basename="inventory-movement")

urlpatterns = router.urls
