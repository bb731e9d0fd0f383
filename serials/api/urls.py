from rest_framework.routers import DefaultRouter

from .views import SerialNumberViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("", SerialNumberViewSet, basename="serialnumber")

urlpatterns = router.urls
