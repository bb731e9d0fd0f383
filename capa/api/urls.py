from rest_framework.routers import DefaultRouter

from .views import CAPAViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("", CAPAViewSet, basename="capa")

urlpatterns = router.urls
