from rest_framework.routers import DefaultRouter

from .views import DeviationViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("", DeviationViewSet, basename="deviation")

urlpatterns = router.urls
