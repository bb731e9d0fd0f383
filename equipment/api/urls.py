from rest_framework.routers import DefaultRouter

from .views import CalibrationRecordViewSet, CleaningLogViewSet, EquipmentViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# The log routes first: registered after "", `{pk}` would swallow them.
router.register("calibration-records", CalibrationRecordViewSet, basename="calibration-record")
router.register("cleaning-logs", CleaningLogViewSet, basename="cleaning-log")
router.register("", EquipmentViewSet, basename="equipment")

urlpatterns = router.urls
